"""``copilot_gated(StrategyClass)``: the co-pilot as an entry gate on any
:class:`~btedge.strategies.base.BaseStrategy` subclass.

An entry the strategy wants on a bar is judged by :func:`~btedge.copilot.gate.decide` with the
advice about the chart as it stood at the previous bar: the advice never sees the bar it gates.
Live (``copilot_async=True``) ``next()`` hands each bar to the advisor's thread
(:class:`AdvisorWorker`) and reads the advice for the previous bar if it is in; not in yet (slow,
failed) means no trade, and ``next()`` never waits. In a backtest (inline) the advice for the
previous bar is computed when an entry asks for it, from the same bars, so both give the same
advice. Exits are never gated. Every decision is journaled next to the advice.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from btedge.copilot.advice import AdviceError
from btedge.copilot.gate import SIDES, GateParams, decide
from btedge.copilot.journal import AdviceJournal, ReplayAdvisor, iso
from btedge.copilot.rules import RulesAdvisor
from btedge.copilot.worker import AdvisorWorker, Request, bt_index
from btedge.dashboard.tape import model_lines

#: Params the gate adds (names prefixed ``copilot``).
COPILOT_PARAMS = (
    ("copilot", "rules"), ("copilot_path", ""), ("copilot_journal", ""), ("copilot_threshold", 0.6),
    ("copilot_consensus", None), ("copilot_max_exposure", math.inf), ("copilot_cooldown", 0),
    ("copilot_bars", 60), ("copilot_warmup", 100), ("copilot_snapshots", ""), ("copilot_async", False),
)


def make_advisor(kind: str, path: str = "") -> Any:
    """``rules`` (default), ``chat`` (environment), ``local`` (transformers folder ``path``),
    ``replay`` (advice journal ``path``), or an advisor object (anything with ``advise``)."""
    if hasattr(kind, "advise"):
        return kind
    if kind == "rules":
        return RulesAdvisor()
    if kind == "chat":
        from btedge.copilot.chat import ChatAdvisor

        return ChatAdvisor.from_env()
    if kind == "local":
        from btedge.copilot.local import TransformersAdvisor

        if not path:
            raise ValueError("copilot='local' needs copilot_path=<folder of a saved vision-language model>")
        return TransformersAdvisor(path)
    if kind == "replay":
        if not path:
            raise ValueError("copilot='replay' needs copilot_path=<advice journal .jsonl>")
        return ReplayAdvisor(path)
    raise ValueError(f"copilot must be one of rules, chat, local, replay; got {kind!r}")


def copilot_gated(strategy: type) -> type:
    """A subclass of ``strategy`` whose entries need the co-pilot's agreement.

    Params added:
      - ``copilot`` (default ``'rules'``): advisor, see :func:`make_advisor`; ``copilot_path``
      - ``copilot_journal`` (default ``''``): advice journal JSONL to append to
      - ``copilot_threshold`` (0.6), ``copilot_consensus`` (None), ``copilot_max_exposure`` (inf,
        units), ``copilot_cooldown`` (0 bars): :class:`~btedge.copilot.gate.GateParams`
      - ``copilot_bars`` (60): bars per snapshot; ``copilot_warmup`` (100): bars before them for the
        indicators; ``copilot_snapshots`` (``''``): folder to save every bar's PNG
      - ``copilot_async`` (False): ask from a thread (live); False asks inline (backtests, replay)
    """

    class Gated(strategy):
        params = COPILOT_PARAMS

        def __init__(self) -> None:
            super().__init__()
            p = self.p
            self.copilot_params = GateParams(float(p.copilot_threshold), p.copilot_consensus,
                                             float(p.copilot_max_exposure), int(p.copilot_cooldown))
            advisor = make_advisor(p.copilot, p.copilot_path)
            journal = AdviceJournal(p.copilot_journal) if p.copilot_journal else None
            draw = getattr(advisor, "name", "") in ("chat", "local") or bool(p.copilot_snapshots)
            self.copilot = AdvisorWorker(advisor, journal, int(p.copilot_bars), p.copilot_snapshots or None,
                                         draw=draw, inline=not p.copilot_async)
            self._copilot_journal = journal
            self._confidence = model_lines(self).get("confidence")
            self._last_entry_bar: int | None = None
            self.copilot_vetoes = self.copilot_allowed = 0

        def _request(self, ago: int) -> Request:
            """The bars up to ``ago`` bars back (0: this bar), as raw arrays (cheap: ``next()`` pays this)."""
            d, symbol = self.data, self.data._name or "data0"
            n = min(len(d) + ago, int(self.p.copilot_bars) + int(self.p.copilot_warmup))
            ohlc = np.column_stack([np.asarray(getattr(d, k).get(ago=ago, size=n), dtype=float)
                                    for k in ("open", "high", "low", "close")])
            return Request(symbol, np.asarray(d.datetime.get(ago=ago, size=n), dtype=float), ohlc, {"symbol": symbol})

        def next(self) -> None:
            super().next()
            # live (async) or saving every snapshot: ask on every bar; inline: only when an entry asks.
            # Last in next(): the advisor's thread wakes on the hand-over and would take the GIL from
            # whatever followed it (the gate reads the advice for the previous bar, never this one).
            if (self.p.copilot_async or self.p.copilot_snapshots) and len(self.data) >= 3:
                self.copilot.submit(self._request(0))

        def entry_allowed(self, side: int) -> bool:
            if not super().entry_allowed(side):
                return False
            symbol = self.data._name or "data0"
            previous = bt_index([self.data.datetime[-1]])[0] if len(self.data) > 3 else None
            advice = None
            if previous is not None:
                advice = self.copilot.result(symbol, previous)
                if advice is None and self.copilot.inline:  # inline: ask now, from the bars up to the previous one
                    self.copilot.submit(self._request(-1))
                    advice = self.copilot.result(symbol, previous)
            if isinstance(advice, AdviceError):
                advice = str(advice) or "error"
            confidence = float(self._confidence[0]) if self._confidence is not None else None
            since = len(self) - self._last_entry_bar if self._last_entry_bar is not None else math.inf
            decision = decide(side, advice, self.copilot_params, confidence,
                              exposure_after=self.position_size(side), bars_since_entry=since)
            if self._copilot_journal is not None:
                self._copilot_journal.write({
                    "kind": "decision", "symbol": symbol, "bar_time": iso(bt_index([self.data.datetime[0]])[0]),
                    "advice_bar_time": iso(previous) if previous is not None else None, "side": SIDES[side],
                    "allowed": decision.allowed, "reason": decision.reason})
            if decision.allowed:
                self._last_entry_bar = len(self)
                self.copilot_allowed += 1
            else:
                self.copilot_vetoes += 1
            return decision.allowed

        def stop(self) -> None:
            self.copilot.close()
            if self._copilot_journal is not None:
                self._copilot_journal.close()
            super().stop()

    Gated.__name__ = Gated.__qualname__ = f"{strategy.__name__}Copilot"
    Gated.__doc__ = f"{strategy.__name__} with the co-pilot's veto on entries (see btedge.copilot.strategy)."
    return Gated
