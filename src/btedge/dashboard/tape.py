"""The bar tape: the OHLCV bars (and model lines) a live run saw, in a SQLite file beside its
order journal, so the dashboard can draw candles. The journal keeps only the newest bar time per
symbol; the tape keeps every bar.

    <state_dir>/<run_name>.<account>.tape.sqlite     beside  <run_name>.<account>.sqlite

``btedge-live`` adds :class:`BarTape` to every session. It writes one transaction per bar (WAL,
``synchronous=NORMAL``); a failed write is logged once and never stops trading. Readers open it
read-only (:func:`read_bars`).
"""
from __future__ import annotations

import logging
import math
import sqlite3
from pathlib import Path
from typing import Any, Callable

import backtrader as bt
import pandas as pd

log = logging.getLogger(__name__)

#: Strategy lines copied to the tape when the strategy has them (``EnsembleSignal`` and regimes).
MODEL_LINES = ("p_long", "p_short", "confidence", "regime")

SCHEMA = """
CREATE TABLE IF NOT EXISTS tape (
    symbol TEXT NOT NULL, bar_time REAL NOT NULL, open REAL, high REAL, low REAL, close REAL,
    volume REAL, p_long REAL, p_short REAL, confidence REAL, regime REAL, live INTEGER NOT NULL,
    written REAL NOT NULL, PRIMARY KEY (symbol, bar_time));
"""


def tape_path(journal_path: str | Path) -> Path:
    """The tape beside a journal: ``x.DU1.sqlite`` -> ``x.DU1.tape.sqlite``."""
    path = Path(journal_path)
    return path.with_name(path.name.removesuffix(".sqlite") + ".tape.sqlite")


def model_lines(strategy: bt.Strategy) -> dict[str, Any]:
    """The strategy's indicator lines named in :data:`MODEL_LINES` (first indicator that has each)."""
    found: dict[str, Any] = {}
    for indicator in strategy.getindicators():
        for name in MODEL_LINES:
            if name not in found and name in getattr(indicator.lines, "getlinealiases", lambda: ())():
                found[name] = getattr(indicator.lines, name)
    return found


def _value(line: Any) -> float | None:
    try:
        value = float(line[0])
    except (IndexError, TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


class TapeWriter:
    """An open tape file: :meth:`write` appends rows (one transaction per call)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows of (symbol, bar_time epoch, open, high, low, close, volume, p_long, p_short,
        confidence, regime, live, written epoch); a bar written again replaces the old row."""
        self._db.execute("BEGIN")
        try:
            self._db.executemany("INSERT OR REPLACE INTO tape VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


class BarTape(bt.Analyzer):
    """Appends each bar of each data, with the strategy's model lines, to the tape.

    Params:
      - ``journal`` (default: ``None``): a callable returning the live session's journal (or
        ``None`` while not connected); the tape goes beside ``journal.path``
      - ``path`` (default: ``None``): write here instead (tests, backtests)
      - ``clock`` (default: ``time.time``): the ``written`` timestamp
    """

    params = (("journal", None), ("path", None), ("clock", None))

    def start(self) -> None:
        import time

        self._tape: TapeWriter | None = None
        self._failed = False
        self._clock: Callable[[], float] = self.p.clock or time.time
        self._lines = model_lines(self.strategy)

    def _connect(self) -> TapeWriter | None:
        if self._tape is not None or self._failed:
            return self._tape
        path = self.p.path
        if path is None and self.p.journal is not None:
            journal = self.p.journal()
            path = tape_path(journal.path) if journal is not None else None
        if path is None:
            return None
        self._tape = TapeWriter(path)
        return self._tape

    def next(self) -> None:
        try:
            tape = self._connect()
            if tape is None:
                return
            model = {name: _value(line) for name, line in self._lines.items()}
            tape.write([self._row(data, model) for data in self.strategy.datas])
        except (sqlite3.Error, OSError) as exc:
            self._failed = True
            log.warning("bar tape: cannot write (%s); the dashboard will show no candles for this run", exc)

    def _row(self, data: Any, model: dict[str, float | None]) -> tuple[Any, ...]:
        when = bt.num2date(data.datetime[0]).replace(tzinfo=None)
        epoch = pd.Timestamp(when, tz="UTC").timestamp()
        live = int(getattr(data, "_laststatus", None) == getattr(data, "LIVE", object()))
        ohlcv = [_value(getattr(data, name)) for name in ("open", "high", "low", "close", "volume")]
        extra = [model.get(name) for name in MODEL_LINES]
        return (data._name or "data", epoch, *ohlcv, *extra, live, self._clock())

    def stop(self) -> None:
        if self._tape is not None:
            self._tape.close()
            self._tape = None


def read_bars(path: str | Path, symbol: str | None = None, last: int | None = None) -> pd.DataFrame:
    """Bars from a tape, read-only, oldest first, indexed by UTC bar time; columns ``symbol``,
    OHLCV, the model lines, ``live`` and ``written``. Empty when the file or table is missing."""
    columns = ["symbol", "open", "high", "low", "close", "volume", *MODEL_LINES, "live", "written"]
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], tz="UTC", name="time"))
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
    try:
        where, args = ("WHERE symbol = ?", [symbol]) if symbol else ("", [])
        limit = f"LIMIT {int(last)}" if last else ""
        query = (f"SELECT * FROM (SELECT * FROM tape {where} ORDER BY bar_time DESC {limit}) "
                 "ORDER BY bar_time")
        try:
            frame = pd.read_sql_query(query, db, params=args)
        except (sqlite3.OperationalError, pd.errors.DatabaseError):
            frame = pd.DataFrame(columns=["bar_time", *columns])
    finally:
        db.close()
    index = pd.to_datetime(frame.pop("bar_time").astype(float), unit="s", utc=True)
    frame.index = pd.DatetimeIndex(index, name="time")
    return frame
