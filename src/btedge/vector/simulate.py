"""One loop over the bars that does what backtrader's ``BackBroker`` and ``BaseStrategy`` do.

Per bar ``i``, in backtrader's order:

1. the broker: bracket legs whose parent filled on an earlier bar become active; the orders the
   strategy placed on bar ``i - 1`` are checked against cash (``checksubmit``: each is
   pseudo-executed at its created price, one after the other, from the current cash and a copy of
   the position; one that leaves cash below zero is rejected, with its whole bracket); then the
   accepted orders execute in submission order: market orders at the open moved by the slippage
   (capped at the bar's high/low), stop legs at the open when it gaps through the stop or else at
   the stop price (slipped, capped), limit legs at the open when it gaps through or else at the
   limit; an opening fill that would leave cash below zero is rejected (``Margin``); the first leg
   that fills cancels the other; the value is marked at the close;
2. the strategy (from its first bar): wanted side from the :class:`~btedge.vector.signals.Signals`
   and the current side, clamped to ``direction``; after a stop-loss or take-profit exit (with
   ``reenter=False``) the side that exit closed is not entered again until the wanted side changes;
   if the wanted side differs from the current one, cancel the legs and close, then
   (if the gate allows) size a new position from the value and close of this bar and submit it,
   as a bracket when stop-loss or take-profit is set.

Every price, cash and value update is the same floating-point expression, in the same order, as
``backtrader/brokers/bbroker.py`` and ``btedge/strategies/base.py``, so fills and equity are
equal to backtrader's (tests: ``tests/vector``). Compiled with numba when it is installed (it is a
pinned dependency); the pure-Python fallback gives the same numbers, slowly.
"""
from __future__ import annotations

import logging
import math

import numpy as np

log = logging.getLogger(__name__)

try:  # numba is pinned; the fallback keeps the package importable without it
    from numba import njit
except ImportError:  # pragma: no cover - exercised only without numba
    log.warning("numba is not installed: the vector engine runs as plain Python (slow)")

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        if args and callable(args[0]):
            return args[0]
        return lambda f: f

#: Fill kinds in the ``fills`` table.
MARKET_CLOSE, MARKET_ENTRY, STOP_LEG, LIMIT_LEG = 0, 1, 2, 3

_KEEP = 2


@njit(cache=True)
def _update(psize, pprice, size, price):
    """backtrader ``Position.update`` for the cases a single-position strategy meets:
    (new size, new price, opened, closed)."""
    oldsize = psize
    nsize = psize + size
    if nsize == 0.0:
        return 0.0, 0.0, 0.0, size
    if oldsize == 0.0:
        return nsize, price, size, 0.0
    if oldsize > 0.0:
        if size > 0.0:
            return nsize, (pprice * oldsize + size * price) / nsize, size, 0.0
        if nsize > 0.0:
            return nsize, pprice, 0.0, size
        return nsize, price, nsize, -oldsize
    if size < 0.0:
        return nsize, (pprice * oldsize + size * price) / nsize, size, 0.0
    if nsize < 0.0:
        return nsize, pprice, 0.0, size
    return nsize, price, nsize, -oldsize


@njit(cache=True)
def _pseudo(cash, psize, pprice, size, price, comm):
    """``BackBroker._execute`` in pseudo mode (``checksubmit``): cash after the order at
    ``price``, and the position copy updated."""
    nsize, nprice, opened, closed = _update(psize, pprice, size, price)
    if closed != 0.0:
        closedvalue = -closed * price
        closecash = closedvalue
        if closedvalue > 0.0:
            closecash /= 1.0
        cash += closecash + 0.0
        cash -= abs(closed) * comm * price
    if opened != 0.0:
        openedvalue = opened * price
        opencash = openedvalue
        if openedvalue > 0.0:
            opencash /= 1.0
        cash -= opencash
        cash -= abs(opened) * comm * price
    return cash, nsize, nprice


@njit(cache=True)
def _slip_up(pmax, price, slip):
    if slip == 0.0:
        return price
    pslip = price * (1 + slip)
    if pslip <= pmax:
        return pslip
    return pmax


@njit(cache=True)
def _slip_down(pmin, price, slip):
    if slip == 0.0:
        return price
    pslip = price * (1 - slip)
    if pslip >= pmin:
        return pslip
    return pmin


@njit(cache=True)
def _execute(cash, psize, pprice, size, price, comm):
    """``BackBroker._execute`` for a real fill: (cash, size, price, executed size, commission).

    The closing part always executes; an opening part that would leave cash below zero does
    not (backtrader's ``Margin``).
    """
    pprice_orig = pprice
    _, _, opened, closed = _update(psize, pprice, size, price)
    fee = 0.0
    if closed != 0.0:
        pnl = -closed * (price - pprice_orig) * 1.0
        closedvalue = -closed * pprice_orig
        closecash = closedvalue
        if closedvalue > 0.0:
            closecash /= 1.0
        cash += closecash + pnl * 1
        closedcomm = abs(closed) * comm * price
        cash -= closedcomm
        cash += 0.0
        fee += closedcomm
    if opened != 0.0:
        openedvalue = opened * price
        opencash = openedvalue
        if openedvalue > 0.0:
            opencash /= 1.0
        tcash = cash - opencash
        openedcomm = abs(opened) * comm * price
        tcash -= openedcomm
        if tcash < 0.0:
            opened = 0.0
        else:
            cash = tcash
            fee += openedcomm
    done = closed + opened
    if done != 0.0:
        psize, pprice, _, _ = _update(psize, pprice, done, price)
    return cash, psize, pprice, done, fee


@njit(cache=True)
def _record(fills, nf, bar, size, price, fee, kind):
    if size == 0.0:
        return nf
    fills[nf, 0] = bar
    fills[nf, 1] = size
    fills[nf, 2] = price
    fills[nf, 3] = fee
    fills[nf, 4] = kind
    return nf + 1


@njit(cache=True)
def _leg_price(popen, phigh, plow, lsize, stop_px, limit_px, slip):
    """Price and kind of the bracket leg that fills on this bar (kind 0: none). The stop leg is
    checked first, as it sits first in the broker's queue."""
    if not math.isnan(stop_px):
        if lsize < 0.0:  # sell stop under a long
            if popen <= stop_px:
                return _slip_down(plow, popen, slip), STOP_LEG
            if plow <= stop_px:
                return _slip_down(plow, stop_px, slip), STOP_LEG
        else:
            if popen >= stop_px:
                return _slip_up(phigh, popen, slip), STOP_LEG
            if phigh >= stop_px:
                return _slip_up(phigh, stop_px, slip), STOP_LEG
    if not math.isnan(limit_px):
        if lsize > 0.0:  # buy limit over a short
            if limit_px >= popen:
                return _slip_up(min(phigh, limit_px), popen, slip), LIMIT_LEG
            if limit_px >= plow:
                return limit_px, LIMIT_LEG
        else:
            if limit_px <= popen:
                return _slip_down(limit_px, popen, slip), LIMIT_LEG
            if limit_px <= phigh:
                return limit_px, LIMIT_LEG
    return 0.0, 0


@njit(cache=True)
def simulate(open_, high, low, close, side, exit_long, exit_short, allowed, atr, first,
             lo_side, hi_side, stop_loss, take_profit, fraction, risk, atr_mult, integer,
             cash0, comm, slip, reenter):
    """Run the rules over the bars; see the module docstring.

    Returns ``(value, position, fills, skipped)``: the portfolio value and position size at each
    bar's close, one row per fill ``(bar, size, price, commission, kind)``, and the number of
    signals whose entry size rounded to zero or whose entry order the broker refused for cash
    (``Margin`` at submission or at the fill), once per signal: BaseStrategy's ``skipped_entries``.
    """
    n = close.shape[0]
    value = np.empty(n)
    position = np.empty(n)
    fills = np.empty((4 * n + 4, 5))
    nf = 0
    cash = cash0
    psize = 0.0
    pprice = 0.0
    val = cash0
    # orders submitted on the previous bar: close (size), entry (size), its legs
    sub_close = 0.0
    sub_entry = 0.0
    sub_price = 0.0  # created price of the market orders (the signal bar's close)
    sub_stop = math.nan
    sub_limit = math.nan
    # live legs of the current position
    legs_size = 0.0
    stop_px = math.nan
    limit_px = math.nan
    legs_live = False
    legs_active = False
    skipped = 0
    skipping = 0  # side of the signal whose skipped entry was counted (counted once per signal)
    blocked = 0  # side a bracket exit closed: not re-entered until the target changes (reenter=False)
    for i in range(n):
        # -- broker ------------------------------------------------------------------------
        if legs_live:
            legs_active = True
        entry_ok = sub_entry != 0.0
        close_ok = sub_close != 0.0
        legs_ok = entry_ok and not (math.isnan(sub_stop) and math.isnan(sub_limit))
        refused = False  # the entry's own order refused for cash (Margin), as BaseStrategy counts it
        if close_ok or entry_ok:
            ccash, cs, cp = cash, psize, pprice
            if close_ok:
                ccash, cs, cp = _pseudo(ccash, cs, cp, sub_close, sub_price, comm)
                close_ok = ccash >= 0.0
            if entry_ok:
                ccash, cs, cp = _pseudo(ccash, cs, cp, sub_entry, sub_price, comm)
                if ccash < 0.0:
                    entry_ok = False
                    legs_ok = False
                    refused = True
                elif legs_ok:  # a leg refused cancels the entry (Canceled, not Margin: not counted)
                    if not math.isnan(sub_stop):
                        ccash, cs, cp = _pseudo(ccash, cs, cp, -sub_entry, sub_stop, comm)
                        if ccash < 0.0:
                            entry_ok = False
                            legs_ok = False
                    if legs_ok and not math.isnan(sub_limit):
                        ccash, cs, cp = _pseudo(ccash, cs, cp, -sub_entry, sub_limit, comm)
                        if ccash < 0.0:
                            entry_ok = False
                            legs_ok = False
        if close_ok:
            p = _slip_up(high[i], open_[i], slip) if sub_close > 0.0 else _slip_down(low[i], open_[i], slip)
            cash, psize, pprice, done, fee = _execute(cash, psize, pprice, sub_close, p, comm)
            nf = _record(fills, nf, i, done, p, fee, MARKET_CLOSE)
        if entry_ok:
            p = _slip_up(high[i], open_[i], slip) if sub_entry > 0.0 else _slip_down(low[i], open_[i], slip)
            cash, psize, pprice, done, fee = _execute(cash, psize, pprice, sub_entry, p, comm)
            nf = _record(fills, nf, i, done, p, fee, MARKET_ENTRY)
            refused = done == 0.0  # Margin at the fill: the open moved the cost above the cash
            if done == sub_entry and legs_ok:  # filled in full: the legs activate next bar
                legs_size = sub_entry
                stop_px = sub_stop
                limit_px = sub_limit
                legs_live = True
                legs_active = False
        if legs_active:
            lsize = -legs_size
            p, kind = _leg_price(open_[i], high[i], low[i], lsize, stop_px, limit_px, slip)
            if kind != 0:
                cash, psize, pprice, done, fee = _execute(cash, psize, pprice, lsize, p, comm)
                nf = _record(fills, nf, i, done, p, fee, kind)
                legs_live = False
                legs_active = False
                if not reenter:
                    blocked = 1 if lsize < 0.0 else -1
        if refused:  # counted before the strategy runs, once per signal (BaseStrategy.notify_order)
            rside = 1 if sub_entry > 0.0 else -1
            if skipping != rside:
                skipping = rside
                skipped += 1
        sub_close = 0.0
        sub_entry = 0.0
        sub_stop = math.nan
        sub_limit = math.nan
        # -- value at the close (BackBroker._get_value) ------------------------------------
        dvalue = psize * close[i]
        unreal = psize * (close[i] - pprice) * 1.0
        if dvalue > 0.0:
            dvalue -= unreal
            val = cash + ((0.0 + dvalue / 1.0) + unreal)
        else:
            val = cash + (0.0 + dvalue)
        value[i] = val
        position[i] = psize
        # -- strategy ------------------------------------------------------------------------
        if i < first:
            continue
        have = 1 if psize > 0.0 else (-1 if psize < 0.0 else 0)
        s = side[i]
        if s == _KEEP:
            want = have
            if have == 1 and exit_long[i]:
                want = 0
            elif have == -1 and exit_short[i]:
                want = 0
        else:
            want = s
        want = max(lo_side, min(hi_side, want))
        if want != skipping:
            skipping = 0
        if want != blocked:
            blocked = 0  # a new signal: the bracket exit no longer holds entries off
        elif want != 0:
            continue  # still the signal a stop-loss or take-profit closed
        if want == have:
            continue
        if have != 0:
            legs_live = False
            legs_active = False
            sub_close = -psize
        if want != 0 and allowed[i]:
            price = close[i]
            size = 0.0
            if price > 0.0 and val > 0.0:
                size = fraction * val / price
                a = atr[i]
                if a > 0.0 and math.isfinite(a):
                    size = min(size, risk * val / (atr_mult * a))
                if integer:
                    size = math.floor(size)
            if size <= 0.0:
                if skipping != want:
                    skipping = want
                    skipped += 1
            else:
                sub_entry = size * want
                sub_price = price
                if stop_loss != 0.0:
                    sub_stop = price * (1.0 - stop_loss * want)
                if take_profit != 0.0:
                    sub_limit = price * (1.0 + take_profit * want)
        if sub_close != 0.0:
            sub_price = close[i]
    return value, position, fills[:nf], skipped
