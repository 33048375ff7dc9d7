"""pairs and dual_momentum across a process restart on the fake gateway (both clients): the
second process starts with what the first one left. Bars it gets as history (backfill) must not
trade, take over the orders of the first process, or make it think a leg failed; it resumes the
positions its journal holds instead of liquidating or re-entering them; a rule that is true on a
LIVE bar still trades."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from btedge.strategies import get_strategy
from btedge.testkit.fakegateway import FakeGateway, stock
from tests.support.live_session import run_session
from tests.support.multi_live import LiveSteps, cointegrated_walks

pytestmark = pytest.mark.usefixtures("time_limit")
SYMBOLS = ["KO", "PEP"]
HISTORY = 40
HOLDING = {"hedge_period": 20, "zperiod": 10, "coint_period": 30, "retest": 5, "pvalue": 1.0, "entry": 0.3,
           "exit": 0.0, "stop": 50.0, "max_hold": 0, "gross": 0.2}
MOMENTUM = {"lookback": 20, "vol_period": 5, "top": 2, "rebalance": 3, "fraction": 0.5}


def gateway(symbols: list[str] = SYMBOLS, n: int = 60, seed: int = 5) -> FakeGateway:
    """Hourly bars of cointegrated-ish random walks (a common walk plus each one's noise)."""
    bars = cointegrated_walks(symbols, n, seed)
    gw = FakeGateway(bars=bars[symbols[0]], instrument=stock(symbols[0]), history=HISTORY, auto_fill=True)
    for symbol in symbols[1:]:
        gw.server.add_instrument(stock(symbol), bars[symbol], HISTORY)
    return gw.start()


def live(cls: type) -> type:
    """``cls`` that pushes the gateway's next step once every feed is LIVE and after each live step
    (:class:`LiveSteps`); records the orders sent before that (on history bars) and each live
    bar's z-score (pairs)."""

    class Live(LiveSteps, cls):
        params = (("gw", None), ("steps", 4))

        def start(self) -> None:
            super().start()
            self.sent_before = len(self.p.gw.messages("placeOrder"))
            self.sent_on_history = 0
            self.live_z: list[float] = []
            self.held_at_live: dict[str, float] = {}

        def notify_data(self, data: Any, status: int, *args: Any, **kwargs: Any) -> None:
            if not self.started and all(d._laststatus == d.LIVE for d in self.datas):
                self.started = True
                self.sent_on_history = len(self.p.gw.messages("placeOrder")) - self.sent_before
                self.held_at_live = {d._name: self.getposition(d).size for d in self.datas}
                self.p.gw.push_bars(1)

        def next(self) -> None:
            if self.started and hasattr(self, "z"):
                self.live_z.append(self.z[0])
            super().next()
            self.advance()

        def prenext(self) -> None:  # warm-up: the strategy does not decide (as in a real run), the clock moves
            self.advance()

    return Live


def working(gw: FakeGateway) -> list[Any]:
    return [o for o in gw.orders() if o.status in ("PreSubmitted", "Submitted", "PendingSubmit")]


def held(gw: FakeGateway) -> dict[str, float]:
    return {p.instrument.symbol: p.quantity for p in gw.positions() if p.quantity}


def messages(caplog: Any, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_pairs_restart_does_not_liquidate_the_spread_it_holds(ib_lib, caplog):
    """The first process ends holding a short spread, nothing working; the spread has not
    reverted on the second process's live bars: it keeps it and sends nothing."""
    gw = gateway(seed=64)
    try:
        first, _, _ = run_session(gw, ib_lib, strategy=live(get_strategy("pairs")), dataname=SYMBOLS, gw=gw, steps=2,
                                  **HOLDING)
        before = held(gw)
        assert before.get("KO", 0) < 0 < before.get("PEP", 0) and not working(gw)  # the premise
        caplog.clear()
        caplog.set_level(logging.INFO, logger="btedge")
        second, _, broker = run_session(gw, ib_lib, strategy=live(get_strategy("pairs")), dataname=SYMBOLS, gw=gw,
                                        steps=3, **HOLDING)
        after = held(gw)
    finally:
        gw.stop()
    assert second.live_z and all(z > 0 for z in second.live_z)  # a short spread: the exit rule is z <= 0
    assert second.held_at_live == before  # resumed from the journal
    assert second.sent_on_history == 0  # history bars tried to exit; the broker refused them
    assert messages(caplog, "decided on a bar that is not live")  # ... and the strategy knows why
    assert messages(caplog, "both legs will be flattened") == []
    assert messages(caplog, "was Rejected") == []
    assert second.completed == [] and after == before and not working(gw)
    assert second._side == -1  # it holds the short spread, not flat and about to re-enter
    assert {d._name: broker.getposition(d).size for d in second.datas} == before


def test_pairs_restart_finishes_the_exit_the_first_process_left_working(ib_lib, caplog):
    """The first process's last live bar exited (z crossed 0) and it stopped before the fill: the
    second process resumes those two orders, does not take them over from a history bar, and
    each fills once; it then trades only on live bars."""
    gw = gateway(seed=5)
    try:
        first, _, _ = run_session(gw, ib_lib, strategy=live(get_strategy("pairs")), dataname=SYMBOLS, gw=gw, steps=4,
                                  **HOLDING)
        before, left = held(gw), working(gw)
        assert before.get("KO", 0) > 0 > before.get("PEP", 0)  # the premise: a long spread ...
        assert sorted((o.instrument.symbol, o.action, o.quantity) for o in left) == [  # ... and its exit working
            ("KO", "SELL", before["KO"]), ("PEP", "BUY", -before["PEP"])]
        caplog.clear()
        caplog.set_level(logging.INFO, logger="btedge")
        second, _, broker = run_session(gw, ib_lib, strategy=live(get_strategy("pairs")), dataname=SYMBOLS, gw=gw,
                                        steps=2, **HOLDING)
        executions = [e.order.order_id for e in gw.executions()]
        after = held(gw)
    finally:
        gw.stop()
    assert second.sent_on_history == 0
    assert messages(caplog, "taken over") == []  # a decision on history takes nothing over
    assert messages(caplog, "both legs will be flattened") == []
    assert all(executions.count(o.order_id) == 1 for o in left)  # the exit filled once
    assert second.completed[:2] == [("KO", -before["KO"]), ("PEP", -before["PEP"])]
    assert {d._name: broker.getposition(d).size for d in second.datas} == {s: after.get(s, 0.0) for s in SYMBOLS}


def test_dual_momentum_restart_resumes_its_holdings(ib_lib, caplog):
    """dual_momentum holds two of three assets; the second process resumes them from the
    journal, its rebalances on history bars send nothing, and its live rebalance trades from
    the held positions: a pick it keeps is only adjusted, a pick it drops is sold to zero once,
    a new pick is bought once (no liquidation and re-entry, nothing doubled)."""
    symbols = ["AAA", "BBB", "CCC"]
    gw = gateway(symbols, seed=5)
    strategy = live(get_strategy("dual_momentum"))
    try:
        first, _, _ = run_session(gw, ib_lib, strategy=strategy, dataname=symbols, gw=gw, steps=3, **MOMENTUM)
        before, old_ids = held(gw), {o.order_id for o in gw.orders()}
        assert len(before) == 2 and all(q > 0 for q in before.values()) and not working(gw)  # the premise
        second, _, broker = run_session(gw, ib_lib, strategy=strategy, dataname=symbols, gw=gw, steps=3, **MOMENTUM)
        after, new = held(gw), [o for o in gw.orders() if o.order_id not in old_ids]
    finally:
        gw.stop()
    assert second.held_at_live == {s: before.get(s, 0.0) for s in symbols}  # resumed from the journal
    assert second.sent_on_history == 0
    live_picks = [set(w) for w, i in zip(second.rebalances, second.rebalance_bars) if i >= len(second) - 3]
    assert len(live_picks) == 1 and len(live_picks[0]) == 2, live_picks  # one rebalance on a live bar
    picks = live_picks[0]
    for symbol in symbols:
        sent = [o for o in new if o.instrument.symbol == symbol]
        assert len(sent) <= 1, (symbol, sent)  # one order per symbol and rebalance
        if symbol in picks and symbol in before:  # kept: adjusted by less than half
            assert abs(after[symbol] - before[symbol]) < 0.5 * before[symbol], (symbol, before, after)
        elif symbol in picks:
            assert after.get(symbol, 0) > 0 and len(sent) == 1
        else:
            assert after.get(symbol, 0) == 0 and len(sent) == int(symbol in before)
    assert not working(gw)
    assert {d._name: broker.getposition(d).size for d in second.datas} == {s: after.get(s, 0.0) for s in symbols}
