"""A base for analyzers with no work once a bar."""
from __future__ import annotations

import backtrader as bt


class NoBarWork(bt.Analyzer):
    """An analyzer that does nothing once a bar. backtrader calls each analyzer's per-bar hooks
    (``_next``, ``_prenext``, ``_nextstart``, ``_notify_fund``, ``_notify_cashvalue``) on every bar,
    and each loops over its child analyzers (none here) before calling the public method: at a
    million bars that is a few seconds for nothing, so they are empty here."""

    def _skip(self, *args: object) -> None:
        pass

    _next = _prenext = _nextstart = _notify_fund = _notify_cashvalue = _skip
