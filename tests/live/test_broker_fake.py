"""IBBroker against the fake gateway, with both client libraries: fills, partial fills,
rejects, cancels, brackets, a disconnect with an open order, nextValidId rollback, risk gates."""
from __future__ import annotations

import logging
import math
from typing import Any

import backtrader as bt
import pytest

from btedge.live import LiveTradingRefused, RiskGate, RiskLimits
from tests.support.live_session import (
    HISTORY,
    Scripted,
    await_gateway,
    run_session,
)

pytestmark = pytest.mark.usefixtures("time_limit")


def _buy(size: float = 2, **kw: Any):
    def action(strat: Scripted) -> None:
        strat.sent(strat.buy(size=size, **kw))
    return action


def _placed(gw) -> list:
    return gw.messages("placeOrder")


@pytest.mark.parametrize("timing", ["after", "before"])
def test_market_order_fills_with_commission(fake_gateway, ib_lib, gateway_bars, timing):
    fake_gateway.configure(commission_timing=timing)
    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: _buy(2)}, live_bars=3)
    order = strat.orders[0]
    assert strat.statuses_of(order) == ["Submitted", "Accepted", "Completed"]
    (execution,) = fake_gateway.executions()
    next_open = gateway_bars["open"].iloc[HISTORY + 1]  # the bar after the signal bar
    assert order.executed.size == 2 and order.executed.price == pytest.approx(next_open)
    assert execution.commission > 0 and order.executed.comm == pytest.approx(execution.commission)
    assert broker.getposition(strat.data).size == 2
    placed = _placed(fake_gateway)
    assert len(placed) == 1 and placed[0].get("orderRef") == broker.ib_order(order).orderRef == "btedge:default:1"
    values = fake_gateway.account_values()  # cash does not move with prices; the value does
    assert broker.getcash() == pytest.approx(values.get("TotalCashValue", values["TotalCashBalance"]))
    assert broker.getcash() < 1_000_000 - 2 * next_open


def _limit_far_below(strat: Scripted) -> None:
    strat.sent(strat.buy(size=3, exectype=bt.Order.Limit, price=strat.data.close[0] * 0.5))


def test_partial_fill_then_complete(fake_gateway, ib_lib):
    actions = {
        0: _limit_far_below,
        1: lambda s: s.p.gw.partial_fill(s.ib_id(s.orders[0]), 1, price=1000.0),
        2: lambda s: s.p.gw.fill(s.ib_id(s.orders[0]), price=1001.0),
    }
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=4)
    order = strat.orders[0]
    assert strat.statuses_of(order) == ["Submitted", "Accepted", "Partial", "Completed"]
    partial = [e for e in strat.events if e[1] == "Partial"][0]
    assert partial[2] == 1 and partial[3] == pytest.approx(1000.0)
    assert order.executed.size == 3
    assert order.executed.price == pytest.approx((1000.0 + 2 * 1001.0) / 3)
    assert order.executed.comm == pytest.approx(sum(e.commission for e in fake_gateway.executions()))
    assert broker.getposition(strat.data).size == 3


def test_reject_then_cooldown_keeps_new_entries_out(fake_gateway, ib_lib):
    fake_gateway.configure(auto_fill=False)
    actions = {
        0: _buy(1),
        1: lambda s: s.p.gw.reject(s.ib_id(s.orders[0])),
        2: _buy(1),
    }
    risk = RiskGate(RiskLimits(reject_cooldown=600))
    strat, _, _ = run_session(fake_gateway, ib_lib, actions=actions, live_bars=4, broker_kw={"risk": risk})
    first, second = strat.orders
    assert strat.statuses_of(first)[-1] == "Rejected"
    assert strat.statuses_of(second) == ["Rejected"]  # refused by the gate, never sent
    assert len(_placed(fake_gateway)) == 1


def _cancel_first(strat: Scripted) -> None:
    strat.cancel(strat.orders[0])
    await_gateway(strat.p.gw, strat.broker.store, strat.ib_id(strat.orders[0]), status="Cancelled")


def test_cancel_by_strategy(fake_gateway, ib_lib):
    actions = {0: _limit_far_below, 1: _cancel_first}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=3)
    assert strat.statuses_of(strat.orders[0]) == ["Submitted", "Accepted", "Canceled"]
    assert fake_gateway.orders()[0].status == "Cancelled"
    assert broker.open_orders() == []


def test_cancel_by_gateway_expires_order_with_valid(fake_gateway, ib_lib):
    def limit_day(strat: Scripted) -> None:
        strat.sent(strat.buy(size=1, exectype=bt.Order.Limit, price=1.0, valid=bt.Order.DAY))
    actions = {0: limit_day, 1: lambda s: s.p.gw.cancel(s.ib_id(s.orders[0]))}
    strat, _, _ = run_session(fake_gateway, ib_lib, actions=actions, live_bars=3)
    assert strat.statuses_of(strat.orders[0])[-1] == "Expired"
    assert _placed(fake_gateway)[0].get("tif") == "DAY"


def test_bracket_parent_fill_then_take_profit_cancels_stop(fake_gateway, ib_lib, gateway_bars):
    def bracket(strat: Scripted) -> None:
        close = strat.data.close[0]
        strat.sent(*strat.buy_bracket(size=1, exectype=bt.Order.Market,
                                      stopprice=close * 0.5, limitprice=close * 1.002))
    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: bracket}, live_bars=12)
    parent, stop, limit = strat.orders
    placed = _placed(fake_gateway)
    assert [m.get("orderType") for m in placed] == ["MKT", "STP", "LMT"]
    assert [m.flag("transmit") for m in placed] == [False, False, True]
    parent_id = strat.ib_id(parent)
    assert [m.int("parentId") for m in placed[1:]] == [parent_id, parent_id]
    assert strat.statuses_of(parent)[-1] == "Completed"
    assert strat.statuses_of(limit)[-1] == "Completed"
    assert strat.statuses_of(stop)[-1] == "Canceled"
    assert broker.getposition(strat.data).size == 0


def test_disconnect_with_open_order_filled_meanwhile(fake_gateway, ib_lib):
    """The order fills while the socket is down: after the reconnect it is Completed exactly
    once, from the reconciled executions, nothing is resent and the position is right."""
    def drop_then_fill(strat: Scripted) -> None:
        gw = strat.p.gw
        gw.drop_connections()
        gw.fill(strat.ib_id(strat.orders[0]), price=1234.0)

    actions = {0: _limit_far_below, 1: drop_then_fill}
    strat, store, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=4)
    order = strat.orders[0]
    assert store.reconnects == 1
    assert strat.statuses_of(order).count("Completed") == 1
    assert order.executed.size == 3 and order.executed.price == pytest.approx(1234.0)
    assert order.executed.comm == pytest.approx(fake_gateway.executions()[0].commission)
    assert len(_placed(fake_gateway)) == 1
    (gw_position,) = fake_gateway.positions()
    assert broker.getposition(strat.data).size == gw_position.quantity == 3


def test_disconnect_with_open_order_still_working(fake_gateway, ib_lib):
    actions = {0: _limit_far_below, 1: lambda s: s.p.gw.drop_connections(),
               3: lambda s: s.p.gw.fill(s.ib_id(s.orders[0]), price=999.0)}
    strat, store, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=5)
    order = strat.orders[0]
    assert store.reconnects == 1
    assert strat.statuses_of(order) == ["Submitted", "Accepted", "Completed"]
    assert len(_placed(fake_gateway)) == 1
    assert broker.getposition(strat.data).size == 3


def test_next_valid_id_rollback_never_reuses_an_id(fake_gateway, ib_lib):
    def roll_back_and_drop(strat: Scripted) -> None:
        strat.p.gw.roll_back_next_valid_id(1, notify=False)
        strat.p.gw.drop_connections()

    actions = {0: _buy(1), 1: roll_back_and_drop, 3: _buy(1)}
    strat, store, _ = run_session(fake_gateway, ib_lib, actions=actions, live_bars=5)
    first, second = strat.orders
    assert store.reconnects == 1
    assert strat.ib_id(second) > strat.ib_id(first)
    ids = [m.int("orderId") for m in _placed(fake_gateway)]
    assert len(ids) == len(set(ids)) == 2
    assert strat.statuses_of(second)[-1] == "Completed"


def test_risk_gate_clips_oversized_order_with_one_message(fake_gateway, ib_lib, caplog):
    caplog.set_level(logging.DEBUG, logger="btedge.live.risk")
    risk = RiskGate(RiskLimits(max_order_size=5))
    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: _buy(10), 1: _buy(5), 2: _buy(7)},
                                   live_bars=4, broker_kw={"risk": risk})
    big, ok, again = strat.orders
    assert big.size == 5 and strat.statuses_of(big)[-1] == "Completed"
    assert strat.statuses_of(ok)[-1] == "Completed"
    assert [m.float("totalQuantity") for m in _placed(fake_gateway)] == [5, 5, 5]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "clipped" in r.getMessage()]
    assert len(warnings) == 1  # the second clip is logged at DEBUG only
    assert broker.risk_status()["clipped"] == 2 and broker.risk_status()["state"] == "active"


def test_kill_switch_flattens_and_halts(fake_gateway, ib_lib, tmp_path):
    switch = tmp_path / "STOP"
    risk = RiskGate(RiskLimits(kill_switch=switch))
    actions = {0: _buy(2), 2: lambda s: switch.touch(), 4: _buy(1)}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=6, broker_kw={"risk": risk})
    assert risk.halted and "kill-switch" in risk.halt_reason
    assert broker.getposition(strat.data).size == 0
    assert strat.statuses_of(strat.orders[1]) == ["Rejected"]
    sides = [m.get("action") for m in _placed(fake_gateway)]
    assert sides == ["BUY", "SELL"]


def test_live_account_is_refused(fake_gateway, ib_lib):
    fake_gateway.configure(accounts=("U7654321",))
    with pytest.raises(LiveTradingRefused, match="LIVE"):
        run_session(fake_gateway, ib_lib, live_bars=1)
    assert _placed(fake_gateway) == []


def test_commission_never_arriving_books_fill_with_zero(fake_gateway, ib_lib):
    fake_gateway.configure(commission_timing="manual")
    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: _buy(1)}, live_bars=3,
                                   broker_kw={"commission_wait": 0.0})
    order = strat.orders[0]
    assert strat.statuses_of(order)[-1] == "Completed"
    assert order.executed.comm == 0.0
    assert broker.getposition(strat.data).size == 1
    assert not math.isnan(broker.getvalue())


def test_restart_recognises_its_orders_and_takes_the_position(fake_gateway, ib_lib, caplog):
    first, _, _ = run_session(fake_gateway, ib_lib, actions={0: _buy(2), 1: _limit_far_below}, live_bars=3)
    working = fake_gateway.orders()[-1]
    assert working.status == "Submitted" and working.order_ref.startswith("btedge:")
    caplog.set_level(logging.WARNING, logger="btedge.live.broker")
    seen: list[float] = []
    second, _, _ = run_session(fake_gateway, ib_lib, actions={0: lambda s: seen.append(s.getposition().size)},
                               live_bars=2, broker_kw={"cancel_orphans": True})
    assert "is from an earlier run: cancelling" in caplog.text
    assert seen == [2]  # the new process starts from the account's position
    assert fake_gateway.orders()[-1].status == "Cancelled"
    assert len(_placed(fake_gateway)) == 2  # nothing resent


def _sell(size: float):
    def action(strat: Scripted) -> None:
        strat.sent(strat.sell(size=size))
    return action


def test_daily_loss_flattens_and_halts(fake_gateway, ib_lib, gateway_bars):
    """Short 2 at the next open; that bar closes higher (real data), so the account value the
    gateway reports with the fill is below the day's first value by more than max_daily_loss:
    flatten (buy back), then refuse new entries."""
    fill_bar = gateway_bars.iloc[HISTORY + 1]
    assert fill_bar["close"] > fill_bar["open"]  # the premise, from the data
    risk = RiskGate(RiskLimits(max_daily_loss=5.0))
    actions = {0: _sell(2), 4: _sell(1)}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=6, broker_kw={"risk": risk})
    assert risk.halted and risk.halt_reason.startswith("daily loss")
    assert [m.get("action") for m in _placed(fake_gateway)] == ["SELL", "BUY"]
    assert strat.statuses_of(strat.orders[1]) == ["Rejected"]
    assert broker.getposition(strat.data).size == 0


def test_refused_bracket_leg_cancels_the_untransmitted_parent(fake_gateway, ib_lib):
    """A bracket leg the risk gate refuses (size 2 > max_order_size 1) cancels its parent, which
    IB would otherwise hold untransmitted; nothing fills."""
    risk = RiskGate(RiskLimits(max_order_size=1, max_position=1))

    def bracket(strat: Scripted) -> None:
        close = strat.data.close[0]
        parent = strat.buy(size=1, exectype=bt.Order.Market, transmit=False)
        leg = strat.sell(size=2, exectype=bt.Order.Stop, price=close * 0.5, parent=parent, transmit=True)
        strat.orders.extend([parent, leg])

    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: bracket}, live_bars=3, broker_kw={"risk": risk})
    parent, leg = strat.orders
    assert strat.statuses_of(leg) == ["Rejected"]
    assert strat.statuses_of(parent)[-1] == "Canceled"
    assert broker.getposition(strat.data).size == 0
    assert fake_gateway.executions() == []


def test_account_change_across_a_reconnect_halts_without_flattening(fake_gateway, ib_lib, caplog):
    def switch_account(strat: Scripted) -> None:
        strat.p.gw.configure(accounts=("DU7654321",))
        strat.p.gw.drop_connections()

    actions = {0: _buy(1), 1: switch_account, 3: _buy(1)}
    strat, store, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=5)
    assert store.reconnects == 1
    status = broker.risk_status()
    assert status["state"] == "halted" and "account changed" in status["reason"]
    assert strat.statuses_of(strat.orders[1]) == ["Rejected"]
    assert [m.get("action") for m in _placed(fake_gateway)] == ["BUY"]  # no flatten into another account
    assert "7654321" not in caplog.text


def test_two_contracts_one_broker_kill_switch_flattens_both_split_by_size(fake_gateway, ib_lib, gateway_bars,
                                                                           tmp_path):
    """Multi-asset: one broker, two feeds; each contract's position is its own, and the halt
    flattens both, in orders no larger than max_order_size."""
    from btedge.testkit.fakegateway import stock

    fake_gateway.add_instrument(stock("QQQ"), gateway_bars, history=HISTORY)
    switch = tmp_path / "STOP"
    risk = RiskGate(RiskLimits(kill_switch=switch, max_order_size=2))

    def buy_both(strat: Scripted) -> None:
        strat.sent(strat.buy(data=strat.datas[0], size=2), strat.buy(data=strat.datas[1], size=2))
        strat.sent(strat.buy(data=strat.datas[1], size=1))

    actions = {0: buy_both, 2: lambda s: switch.touch()}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=14, dataname=["SPY", "QQQ"],
                                   broker_kw={"risk": risk})
    placed = [(m.get("symbol"), m.get("action"), m.float("totalQuantity")) for m in _placed(fake_gateway)]
    assert placed[:3] == [("SPY", "BUY", 2), ("QQQ", "BUY", 2), ("QQQ", "BUY", 1)]
    assert sorted(placed[3:]) == [("QQQ", "SELL", 1), ("QQQ", "SELL", 2), ("SPY", "SELL", 2)]
    assert {p.instrument.symbol: p.quantity for p in fake_gateway.positions()} == {}
    assert [broker.getposition(d).size for d in strat.datas] == [0, 0]


def test_an_interrupt_right_after_the_send_leaves_the_order_cancellable(fake_gateway, ib_lib, monkeypatch):
    """Ctrl-C between the order's bytes and the broker's backtrader bookkeeping: the order is
    journaled and known to the shutdown of ``--cancel-on-exit``, so it does not stay working."""
    from types import SimpleNamespace

    from btedge import run_live
    from btedge.live.broker import IBBroker

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    def action(strat: Scripted) -> None:
        monkeypatch.setattr(IBBroker, "_placed", interrupted)
        with pytest.raises(KeyboardInterrupt):
            strat.buy(size=1, exectype=bt.Order.Limit, price=1.0)  # far below the market: stays working
        monkeypatch.undo()
        assert strat.broker.open_orders() == []  # the backtrader side never saw it
        run_live._shutdown(SimpleNamespace(broker=strat.broker, store=strat.broker.store), cancel=True)
        strat.env.runstop()

    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: action}, live_bars=3)
    assert [o.status for o in fake_gateway.orders()] == ["Cancelled"]
    assert broker.journal.working_orders() == []
