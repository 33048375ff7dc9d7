"""Runs the advisor outside the strategy's ``next()``.

``next()`` only hands the bars over (:meth:`AdvisorWorker.submit`, a queue put) and looks up
advice already given (:meth:`AdvisorWorker.result`, a dict read). A thread renders the snapshot,
asks the advisor and journals the exchange. ``inline=True`` does the same work synchronously
(backtests: deterministic).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from btedge.copilot.advice import Advice, AdviceError
from btedge.copilot.journal import AdviceJournal, iso
from btedge.copilot.snapshot import frame_snapshot, render

log = logging.getLogger(__name__)


#: backtrader's date numbers count days from 0001-01-01 (day 1); this is 1970-01-01.
_EPOCH_DAY = 719163


def bt_index(numbers: Any) -> pd.DatetimeIndex:
    """backtrader date numbers as a UTC-naive DatetimeIndex, to the millisecond (vectorised
    ``bt.num2date``)."""
    days = np.asarray(numbers, dtype=float) - _EPOCH_DAY
    return pd.DatetimeIndex(pd.to_datetime(np.round(days * 86_400_000).astype("int64"), unit="ms"))


@dataclass(frozen=True)
class Request:
    """The raw bars up to and including the last one: backtrader date numbers ``times`` and an
    (n, 4) array of open, high, low, close; the frame is built in the worker, not in ``next()``."""

    symbol: str
    times: np.ndarray
    ohlc: np.ndarray
    context: dict

    @property
    def bar_time(self) -> pd.Timestamp:
        return bt_index(self.times[-1:])[0]

    @property
    def bars(self) -> pd.DataFrame:
        return pd.DataFrame(self.ohlc, index=bt_index(self.times), columns=["open", "high", "low", "close"])

    @classmethod
    def from_frame(cls, symbol: str, bars: pd.DataFrame, context: dict | None = None) -> "Request":
        """A request from a frame indexed by time (tests, tools)."""
        index = pd.DatetimeIndex(bars.index)
        index = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
        times = index.as_unit("ms").asi8 / 86_400_000 + _EPOCH_DAY
        return cls(symbol, times, bars[["open", "high", "low", "close"]].to_numpy(dtype=float), context or {})


class AdvisorWorker:
    """Params: ``advisor`` (``advise(snapshot, context) -> Advice``), ``journal`` (an
    :class:`AdviceJournal` or None), ``last`` bars per snapshot, ``folder`` to save every PNG
    (None: not saved), ``draw``: render a PNG (the image advisors need it; the rules advisor
    does not), ``inline``: no thread."""

    def __init__(self, advisor: Any, journal: AdviceJournal | None = None, last: int = 60,
                 folder: str | Path | None = None, draw: bool = True, inline: bool = False) -> None:
        self.advisor, self.journal, self.last = advisor, journal, last
        self.folder, self.draw, self.inline = folder, draw or folder is not None, inline
        self._results: dict[tuple[str, str], Advice | AdviceError] = {}
        self._queue: queue.Queue[Request | None] = queue.Queue(maxsize=8)
        self._thread: threading.Thread | None = None
        if not inline:
            self._thread = threading.Thread(target=self._loop, name="copilot-advisor", daemon=True)
            self._thread.start()

    def submit(self, request: Request) -> None:
        """Queue a request (never blocks: when the advisor lags, the oldest waiting request is dropped)."""
        if self.inline:
            self._handle(request)
            return
        while True:
            try:
                self._queue.put_nowait(request)
                return
            except queue.Full:
                try:
                    dropped = self._queue.get_nowait()
                    if dropped is not None:
                        log.info("copilot: advisor lagging, dropped the request for %s", dropped.bar_time)
                except queue.Empty:
                    pass

    def result(self, symbol: str, bar_time: Any) -> Advice | AdviceError | None:
        """The advice for that bar, the error it ended with, or None while it is not in."""
        return self._results.get((symbol, iso(bar_time)))

    def _loop(self) -> None:
        while True:
            request = self._queue.get()
            if request is None:
                return
            self._handle(request)

    def _handle(self, request: Request) -> None:
        key = (request.symbol, iso(request.bar_time))
        start = time.perf_counter()
        advice: Advice | AdviceError
        try:
            bars = request.bars
            snapshot = (render(bars, request.symbol, self.last, self.folder) if self.draw
                        else frame_snapshot(bars, request.symbol, self.last))
        except (ValueError, OSError) as exc:
            self._results[key] = AdviceError(f"snapshot failed: {exc}")
            return
        try:
            advice = self.advisor.advise(snapshot, request.context)
        except AdviceError as exc:
            advice = exc
        except Exception as exc:  # an advisor bug or library error must not stop trading: no trade
            log.warning("copilot: advisor %s failed: %s", getattr(self.advisor, "name", "?"), exc)
            advice = AdviceError(f"{type(exc).__name__}: {exc}")
        self._results[key] = advice
        if self.journal is not None:
            self.journal.write({
                "kind": "advice", "symbol": request.symbol, "bar_time": key[1], "image_sha256": snapshot.sha256,
                "bars_sha256": snapshot.bars_sha256,
                "advisor": getattr(self.advisor, "name", type(self.advisor).__name__),
                "prompt": getattr(self.advisor, "last_prompt", ""), "reply": getattr(self.advisor, "last_reply", ""),
                "advice": advice.to_dict() if isinstance(advice, Advice) else None,
                "error": None if isinstance(advice, Advice) else str(advice),
                "seconds": round(time.perf_counter() - start, 6)})

    def close(self, wait: float = 5.0) -> None:
        """Stop the thread: requests still waiting are dropped, the one in progress may finish."""
        if self._thread is not None:
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._queue.put(None)
            self._thread.join(wait)
            self._thread = None
