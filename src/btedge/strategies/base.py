"""Shared risk, sizing and order handling for single-instrument strategies."""
from __future__ import annotations

import logging
import math

import backtrader as bt

from btedge.indicators.anomaly import LorentzianDistance

log = logging.getLogger(__name__)

LONG, FLAT, SHORT = 1, 0, -1

#: Relative difference below which two levels count as equal (a tie, not a signal): a seeded
#: filter's first bar equals the price only up to rounding.
TIE = 1e-12


def compare(a: float, b: float, rel: float = TIE) -> int:
    """+1 if ``a`` is above ``b``, -1 if below, 0 if they are equal within ``rel`` (or NaN)."""
    if not (math.isfinite(a) and math.isfinite(b)) or abs(a - b) <= rel * max(abs(a), abs(b)):
        return 0
    return 1 if a > b else -1


_DIRECTIONS = {"long": (FLAT, LONG), "short": (SHORT, FLAT), "both": (SHORT, LONG)}
_SIZINGS = ("fraction", "atr")
_ANOMALY_GATES = ("off", "skip", "only")


class BaseStrategy(bt.Strategy):
    """
    Base of btedge's single-instrument strategies: a subclass says *where it wants to be*
    (``target()`` returns +1 long, 0 flat, -1 short) and this class turns changes of that
    target into orders, with stop-loss / take-profit brackets and position sizing.

    Signals must use only ``[0]`` and past values. Market orders fill at the next bar's open,
    so a signal computed on bar t trades on bar t+1 in backtests, and on the next bar live.

    After a stop-loss or take-profit exit the strategy stays flat until the target changes (a
    new signal): a long stopped out while ``target()`` still says long waits until the target
    leaves long (to flat or short, which enters at once) and comes back. ``reenter=True``
    re-enters on the next bar instead, as long as the target holds.

    An entry whose size rounds to zero units (``integer=True`` and one unit costs more than
    the share of the portfolio it may use) is skipped and tried again on the next bar: the first
    one logs a WARNING with the fix, and ``skipped_entries`` counts the signals skipped (one per
    change of the target, however many bars it is retried; the engine reports it). An entry the
    broker refuses for cash (``Margin``: ``fraction=1.0`` leaves no room for commission and
    slippage) is counted and warned about the same way.
    The same class runs unchanged against ``btedge.live.IBBroker``: it uses only ``buy``,
    ``sell``, ``buy_bracket``, ``sell_bracket``, ``close`` and ``cancel``.

    Params:
      - ``direction`` (default: ``'long'``): ``'long'``, ``'short'`` or ``'both'``
      - ``stop_loss`` (default: ``0.0``): stop distance as a fraction of the signal close;
        0 disables the stop leg
      - ``take_profit`` (default: ``0.0``): take-profit distance as a fraction; 0 disables it
      - ``sizing`` (default: ``'fraction'``): ``'fraction'`` of portfolio value per position,
        or ``'atr'``: risk ``risk`` of the value on a move of ``atr_mult`` ATRs (capped by
        ``fraction``)
      - ``fraction`` (default: ``0.95``): share of portfolio value put in one position
      - ``risk`` (default: ``0.01``): share of value risked per trade with ``sizing='atr'``
      - ``atr_period`` (default: ``14``), ``atr_mult`` (default: ``2.0``): ATR for sizing
      - ``anomaly`` (default: ``'off'``): entry gate on the Lorentzian anomaly flag:
        ``'skip'`` enters only on normal bars, ``'only'`` only on anomalous ones
      - ``anomaly_period`` (default: ``100``), ``anomaly_k`` (default: ``3.0``): its threshold
      - ``integer`` (default: ``True``): round sizes down to whole units (stocks, futures);
        set False for crypto and FX
      - ``reenter`` (default: ``False``): after a stop-loss or take-profit exit, enter again on
        the next bar while the target is unchanged (True), or only on a new signal (False)
      - ``verbose`` (default: ``False``): log every order at INFO instead of DEBUG

    Hooks for subclasses:
      - ``target() -> int``: the wanted side this bar (required)
      - ``entry_allowed(side) -> bool``: a gate on new entries only (confidence, anomaly);
        exits are never gated
    """

    params = (
        ("direction", "long"),
        ("stop_loss", 0.0),
        ("take_profit", 0.0),
        ("sizing", "fraction"),
        ("fraction", 0.95),
        ("risk", 0.01),
        ("atr_period", 14),
        ("atr_mult", 2.0),
        ("anomaly", "off"),
        ("anomaly_period", 100),
        ("anomaly_k", 3.0),
        ("integer", True),
        ("reenter", False),
        ("verbose", False),
    )

    def __init__(self) -> None:
        self._validate_risk_params()
        self._pending: list[bt.Order] = []  # entry / exit orders not yet done
        self._bracket_legs: list[bt.Order] = []  # live stop / take-profit children
        self._held_off = FLAT  # side a bracket exit closed: not re-entered until the target changes
        self.skipped_entries = 0  # signals whose entry size rounded to zero
        self._skipping = FLAT  # side whose entry is being skipped (counted once per signal)
        self._skip_warned: set[str] = set()  # kinds of skipped entry already logged at WARNING
        self._entries: dict[int, int] = {}  # refs of entry orders not yet done, and their side
        self.atr = bt.ind.ATR(self.data, period=self.p.atr_period, plot=False) if self.p.sizing == "atr" else None
        self.anomaly = None
        if self.p.anomaly != "off":
            self.anomaly = LorentzianDistance(self.data, period=self.p.anomaly_period, k=self.p.anomaly_k)

    def _validate_risk_params(self) -> None:
        p = self.p
        if p.direction not in _DIRECTIONS:
            raise ValueError(f"direction must be one of {sorted(_DIRECTIONS)}, got {p.direction!r}")
        if p.sizing not in _SIZINGS:
            raise ValueError(f"sizing must be one of {_SIZINGS}, got {p.sizing!r}")
        for name in ("stop_loss", "take_profit"):
            if not 0.0 <= getattr(p, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(p, name)!r}")
        if not 0.0 < p.fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {p.fraction!r}")
        if p.anomaly not in _ANOMALY_GATES:
            raise ValueError(f"anomaly must be one of {_ANOMALY_GATES}, got {p.anomaly!r}")
        if not 0.0 < p.risk < 1.0:
            raise ValueError(f"risk must be in (0, 1), got {p.risk!r}")

    # -- hooks ---------------------------------------------------------------------------
    def target(self) -> int:
        """Wanted side for this bar: +1, 0 or -1. Subclasses must override."""
        raise NotImplementedError

    def entry_allowed(self, side: int) -> bool:
        """Gate on new entries (not on exits): the anomaly gate; extend for confidence filters."""
        if self.anomaly is None:
            return True
        anomalous = self.anomaly.flag[0] > 0.0
        return anomalous if self.p.anomaly == "only" else not anomalous

    # -- engine callbacks ------------------------------------------------------------------
    def next(self) -> None:
        if self._pending:
            return  # one decision at a time: wait until the last order is done
        want = self._clamp(self.target())
        if want != self._skipping:
            self._skipping = FLAT
        if want != self._held_off:
            self._held_off = FLAT  # a new signal: the bracket exit no longer holds entries off
        elif want != FLAT:
            return  # still the signal a stop-loss or take-profit closed: wait for a new one
        have = self._side()
        if want == have:
            return
        if have != FLAT:
            self._exit()
        if want != FLAT and self.entry_allowed(want):
            self._enter(want)

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Submitted, order.Accepted):
            return
        level = logging.INFO if self.p.verbose else logging.DEBUG
        log.log(
            level,
            "%s %s %s size=%.6g price=%s status=%s",
            self._now(), self.data._name or "data0",
            "BUY" if order.isbuy() else "SELL", order.executed.size or order.created.size,
            f"{order.executed.price:.6g}" if order.executed.price else "-",
            order.getstatusname(),
        )
        if order in self._pending:
            self._pending.remove(order)
        side = self._entries.pop(order.ref, FLAT) if not order.alive() else FLAT
        if side != FLAT and order.status == order.Margin:
            self._skip_entry(side, refused=True)
        if order in self._bracket_legs and not order.alive():
            self._bracket_legs.remove(order)
            if order.status == order.Completed and not self.p.reenter:
                self._held_off = SHORT if order.isbuy() else LONG

    # -- helpers ---------------------------------------------------------------------------
    def _now(self) -> str:
        return self.data.datetime.datetime(0).isoformat(sep=" ")

    def _side(self) -> int:
        size = self.getposition(self.data).size
        return LONG if size > 0 else SHORT if size < 0 else FLAT

    def _clamp(self, side: int) -> int:
        lo, hi = _DIRECTIONS[self.p.direction]
        return max(lo, min(hi, int(side)))

    def _exit(self) -> None:
        for leg in self._bracket_legs:
            self.cancel(leg)
        self._bracket_legs = []
        order = self.close()
        if order is not None:
            self._pending.append(order)

    def position_size(self, side: int) -> float:
        """Units to trade for a new position, from the sizing params."""
        price = self.data.close[0]
        value = self.broker.getvalue()
        if not price > 0.0 or not value > 0.0:
            return 0.0
        size = self.p.fraction * value / price
        if self.atr is not None:
            atr = self.atr[0]
            if atr > 0.0 and math.isfinite(atr):
                size = min(size, self.p.risk * value / (self.p.atr_mult * atr))
        return math.floor(size) if self.p.integer else size

    def _skip_entry(self, side: int, refused: bool = False) -> None:
        """Count a signal whose entry did not happen: its size rounded to zero, or the broker
        refused it for cash (``refused``). The first of each kind is a WARNING with the fix; the
        rest are counted in ``skipped_entries`` (once per signal)."""
        if self._skipping == side:
            return  # the same signal, retried
        self._skipping = side
        self.skipped_entries += 1
        price, value = self.data.close[0], self.broker.getvalue()
        kind = "refused" if refused else "zero"
        if kind in self._skip_warned or not (price > 0.0 and value > 0.0) or not (refused or self.p.integer):
            log.debug("%s entry skipped (%s): close %s, value %s", self._now(), kind, price, value)
            return
        self._skip_warned.add(kind)
        if refused:
            why = self._refusal_reason(value)
        else:
            why = ("whole-unit sizing rounds it to 0 units (one unit costs %.6g, the position may use %.6g = "
                   "fraction %.3g of the value %.6g). Trade fractional units with integer=False (CLI: --param "
                   "integer=False), or raise the cash (--cash)"
                   % (price, self.p.fraction * value, self.p.fraction, value))
        log.warning("%s %s: %s entry skipped: %s; later skipped entries are counted in the results, not logged",
                    self._now(), self.data._name or "data0", "long" if side == LONG else "short", why)

    def _refusal_reason(self, value: float) -> str:
        """Why the broker refused an entry for cash, and a fraction that would have fitted: the
        entry was sized on the signal bar's close and filled at this bar's open, plus costs."""
        signal_close, fill_open = self.data.close[-1], self.data.open[0]
        gap = fill_open / signal_close - 1.0 if signal_close > 0.0 else 0.0
        fitted = self.p.fraction / (1.0 + max(gap, 0.0)) - 0.02  # 2 points of room for commission and slippage
        proposal = max(0.01, math.floor(min(fitted, self.p.fraction - 0.05) * 100.0) / 100.0)
        return ("the broker refused it for cash: fraction %.3g of the value %.6g, sized on the signal close "
                "%.6g and filled at the next open %.6g (%+.2f%%), plus commission and slippage, costs more than "
                "the cash. Lower the fraction (CLI: --param fraction=%.2f)"
                % (self.p.fraction, value, signal_close, fill_open, 100.0 * gap, proposal))

    def _enter(self, side: int) -> None:
        size = self.position_size(side)
        if size <= 0:
            self._skip_entry(side)
            return
        price = self.data.close[0]
        sl, tp = self.p.stop_loss, self.p.take_profit
        if not sl and not tp:
            order = self.buy(size=size) if side == LONG else self.sell(size=size)
            self._pending.append(order)
            self._entries[order.ref] = side
            return
        stop = price * (1.0 - sl * side) if sl else None
        limit = price * (1.0 + tp * side) if tp else None
        bracket = self.buy_bracket if side == LONG else self.sell_bracket
        main, *legs = bracket(
            size=size,
            exectype=bt.Order.Market,
            stopprice=stop,
            stopexec=bt.Order.Stop if sl else None,
            limitprice=limit,
            limitexec=bt.Order.Limit if tp else None,
        )
        self._pending.append(main)
        self._entries[main.ref] = side
        self._bracket_legs = [leg for leg in legs if leg is not None]
