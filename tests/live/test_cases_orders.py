"""Issue 8's order cases on the fake gateway, with both client libraries: each ends with the
gateway's position equal to the journal's and the strategy's (less what the strategy did not
trade), no duplicate or unintended order, and no traceback."""
from __future__ import annotations

import logging
from typing import Any

import backtrader as bt
import pytest

from btedge.live import RiskGate, RiskLimits
from tests.support.live_session import Scripted, run_session

pytestmark = pytest.mark.usefixtures("time_limit")
CLIENT_ID = 11  # the harness's client id


@pytest.fixture(autouse=True)
def _logs(caplog):
    caplog.set_level(logging.INFO)
    yield
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert not tracebacks, f"tracebacks logged: {tracebacks}"


def _buy(size: float = 1, **kw: Any):
    def action(strat: Scripted) -> None:
        strat.sent(strat.buy(size=size, **kw))
    return action


def _sell(size: float = 1, **kw: Any):
    def action(strat: Scripted) -> None:
        strat.sent(strat.sell(size=size, **kw))
    return action


def _limit_buy(size: float = 1):
    def action(strat: Scripted) -> None:
        strat.sent(strat.buy(size=size, exectype=bt.Order.Limit, price=round(strat.data.close[0] * 0.5, 2)))
    return action


def _gw_position(gw) -> float:
    return sum(p.quantity for p in gw.positions() if p.instrument.symbol == "SPY")


def _journal_position(broker) -> float:
    return broker.journal.position(broker.positions and next(iter(broker.positions)).contract.conId)[0]


def _agree(gw, broker, strat, foreign: float = 0.0) -> float:
    """Gateway == journal + foreign == strategy + foreign; returns the strategy's position."""
    mine = strat.getposition().size
    assert _journal_position(broker) == pytest.approx(mine)
    assert _gw_position(gw) == pytest.approx(mine + foreign)
    return mine


def _placed_ids(gw) -> list[int]:
    ids = [m.int("orderId") for m in gw.messages("placeOrder")]
    assert len(ids) == len(set(ids)), f"an order id was sent twice: {ids}"
    return ids


def test_case01_fill_while_disconnected_booked_once(fake_gateway, ib_lib):
    """The order fills while the socket is down and reqExecutions carries no commission: booked
    once from the executions, not declared lost, and the strategy's close sends one SELL."""
    fake_gateway.configure(commission_on_req_executions=False)

    def drop_then_fill(strat: Scripted) -> None:
        strat.p.gw.drop_connections()
        strat.p.gw.fill(strat.ib_id(strat.orders[0]), price=1234.0)

    def close(strat: Scripted) -> None:
        strat.sent(strat.close())

    actions = {0: _limit_buy(3), 1: drop_then_fill, 3: close}
    strat, store, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=6,
                                       broker_kw={"commission_wait": 0.0})
    entry, exit_ = strat.orders
    assert store.reconnects == 1
    assert strat.statuses_of(entry).count("Completed") == 1 and entry.executed.size == 3
    assert exit_.executed.size == -3
    assert len(_placed_ids(fake_gateway)) == 2
    assert [e["shares"] for e in broker.journal.executions()] == [3, -3]
    assert _agree(fake_gateway, broker, strat) == 0


def test_case01_commission_lost_with_the_socket_is_attached_later(fake_gateway, ib_lib):
    """execDetails arrives, the commission report is lost with the socket: the fill is booked
    once and reqExecutions' report attaches the commission after the reconnect."""
    fake_gateway.configure(commission_timing="manual")

    def fill_then_drop(strat: Scripted) -> None:
        strat.p.gw.fill(strat.ib_id(strat.orders[0]), price=1000.0)
        broker = strat.broker
        broker.store.pump(0.2)  # the execution reaches the client; its commission does not
        strat.p.gw.drop_connections()

    actions = {0: _limit_buy(2), 1: fill_then_drop, 3: lambda s: s.p.gw.release_commissions()}
    strat, store, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=5)
    (execution,) = fake_gateway.executions()
    (booked,) = broker.journal.executions()
    assert store.reconnects == 1 and booked["commission"] == pytest.approx(execution.commission)
    assert strat.statuses_of(strat.orders[0]).count("Completed") == 1
    assert strat.orders[0].executed.comm == pytest.approx(execution.commission)
    assert _agree(fake_gateway, broker, strat) == 2


def test_case02_other_client_fill_with_same_order_id_is_not_ours(fake_gateway, ib_lib):
    """Another client id fills 100 under our orderId (and even our orderRef): never booked onto
    our order, which completes with its own 1 share; the 100 are reported as foreign."""
    def foreign_then_drop(strat: Scripted) -> None:
        ib_order = strat.broker.ib_order(strat.orders[0])
        strat.p.gw.foreign_fill(99, ib_order.orderId, quantity=100, order_ref=ib_order.orderRef)
        strat.p.gw.drop_connections()  # the reconnect's reqExecutions returns every client's fills

    actions = {0: _limit_buy(1), 1: foreign_then_drop,
               3: lambda s: s.p.gw.fill(s.ib_id(s.orders[0]), price=999.0, client_id=CLIENT_ID)}
    strat, store, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=5)
    order = strat.orders[0]
    assert store.reconnects == 1
    assert order.executed.size == 1 and strat.statuses_of(order)[-1] == "Completed"
    assert len(broker.journal.executions()) == 1
    assert _agree(fake_gateway, broker, strat, foreign=100) == 1


def test_case03_restart_resumes_working_order_no_second_order(fake_gateway, ib_lib):
    """A working order of the previous process is resumed: the new process's identical order is
    that order (no second placeOrder), and its fill counts."""
    run_session(fake_gateway, ib_lib, actions={0: _limit_buy(1)}, live_bars=2)
    (orphan,) = fake_gateway.orders()
    assert orphan.status == "Submitted"
    actions = {0: _limit_buy(1), 2: lambda s: s.p.gw.fill(orphan.order_id, price=500.0)}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=4)
    (order,) = strat.orders
    assert strat.ib_id(order) == orphan.order_id
    assert strat.statuses_of(order)[-1] == "Completed" and order.executed.size == 1
    assert _placed_ids(fake_gateway) == [orphan.order_id]
    assert _agree(fake_gateway, broker, strat) == 1


def test_case05_projected_position_and_size_limits_hold(fake_gateway, ib_lib, caplog):
    """max_position counts working orders (four BUYs, two sent); an exit larger than
    max_order_size is clipped; a reversal is checked as a whole; one WARNING per kind."""
    risk = RiskGate(RiskLimits(max_position=2, max_order_size=2))

    def fill_both(strat: Scripted) -> None:
        for order in strat.orders[:2]:
            strat.p.gw.fill(strat.ib_id(order), price=100.0)

    actions = {0: _limit_buy(1), 1: _limit_buy(1), 2: _limit_buy(1), 3: _limit_buy(1), 4: fill_both,
               5: _sell(5), 7: _sell(5)}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=9, broker_kw={"risk": risk})
    refused = [o for o in strat.orders if strat.statuses_of(o) == ["Rejected"]]
    assert len(refused) == 2
    assert [m.float("totalQuantity") for m in fake_gateway.messages("placeOrder")] == [1, 1, 2, 2]
    status = broker.risk_status()
    assert status["refused"] == 2 and status["clipped"] == 2
    refusals = [r for r in caplog.records if r.name == "btedge.live.risk" and r.levelno == logging.WARNING
                and "refused" in r.getMessage()]
    assert len(refusals) == 1
    assert _agree(fake_gateway, broker, strat) == -2


def test_case06_kill_switch_long_only_strategy_never_ends_short(fake_gateway, ib_lib, tmp_path):
    """The kill switch appears and the strategy exits the same bar: its exit is refused, the
    broker's flatten is the only SELL, and the position ends flat, not -2."""
    switch = tmp_path / "STOP"
    risk = RiskGate(RiskLimits(kill_switch=switch))

    def switch_and_exit(strat: Scripted) -> None:
        switch.touch()
        strat.orders.append(strat.close())

    actions = {0: _buy(2), 2: switch_and_exit, 5: _buy(1)}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=7, broker_kw={"risk": risk})
    assert strat.statuses_of(strat.orders[1]) == ["Rejected"]
    assert strat.statuses_of(strat.orders[2]) == ["Rejected"]
    assert [m.get("action") for m in fake_gateway.messages("placeOrder")] == ["BUY", "SELL"]
    assert broker.risk_status()["state"] == "halted"
    assert _agree(fake_gateway, broker, strat) == 0


def test_case06_entry_filled_after_the_halt_is_flattened_and_resume_is_explicit(fake_gateway, ib_lib, tmp_path):
    """The cancel of a working entry loses the race (it fills instead): the flatten covers it.
    Removing the file does not resume; ``STOP.resume`` does."""
    switch = tmp_path / "STOP"
    risk = RiskGate(RiskLimits(kill_switch=switch))

    def entry_that_will_fill(strat: Scripted) -> None:
        _limit_buy(5)(strat)
        strat.p.gw.lose_cancel_race(strat.ib_id(strat.orders[-1]))

    actions = {0: _buy(2), 1: entry_that_will_fill, 2: lambda s: switch.touch(), 5: lambda s: switch.unlink(),
               6: _buy(1), 7: lambda s: (tmp_path / "STOP.resume").touch(), 9: _buy(1)}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=11,
                                   broker_kw={"risk": risk})
    sides = [(m.get("action"), m.float("totalQuantity")) for m in fake_gateway.messages("placeOrder")]
    assert sides == [("BUY", 2), ("BUY", 5), ("SELL", 7), ("BUY", 1)]
    assert strat.statuses_of(strat.orders[2]) == ["Rejected"]  # halted although the file is gone
    assert not (tmp_path / "STOP.resume").exists() and broker.risk_status()["state"] == "active"
    assert _agree(fake_gateway, broker, strat) == 1


def test_case07_shares_bought_by_hand_are_never_sold_by_the_strategy(fake_gateway, ib_lib, caplog):
    fake_gateway.hold_position(10, 90.0)
    seen: list[float] = []

    def look_and_close(strat: Scripted) -> None:
        seen.append(strat.getposition().size)
        assert strat.close() is None  # nothing of the strategy's to close

    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: look_and_close}, live_bars=2)
    assert seen == [0] and fake_gateway.messages("placeOrder") == []
    assert "are not the strategy's" in caplog.text
    assert _agree(fake_gateway, broker, strat, foreign=10) == 0


def test_case08_execution_correction_replaces_never_adds(fake_gateway, ib_lib, caplog):
    def correct(strat: Scripted) -> None:
        (execution,) = strat.p.gw.executions()
        strat.p.gw.correct_execution(execution.exec_id, price=execution.price + 1.0)

    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: _buy(1), 2: correct}, live_bars=5)
    order = strat.orders[0]
    assert strat.statuses_of(order) == ["Submitted", "Accepted", "Completed"]  # never back to Partial
    original, corrected = fake_gateway.executions()
    (booked,) = broker.journal.executions()
    assert booked["exec_id"] == corrected.exec_id and booked["price"] == pytest.approx(corrected.price)
    assert broker.journal.order(broker.ib_order(order).orderRef).state == "Filled"
    assert "execution correction" in caplog.text
    assert _agree(fake_gateway, broker, strat) == 1


def test_case12_daily_loss_persists_across_a_restart(fake_gateway, ib_lib):
    """Lose 800, restart, lose 800 more: halted under a 1000 limit (the day's baseline is in the
    journal), and the halt refuses the next order."""
    first = RiskGate(RiskLimits(max_daily_loss=1000))
    run_session(fake_gateway, ib_lib, actions={0: lambda s: s.p.gw.adjust_cash(-800)}, live_bars=3,
                broker_kw={"risk": first})
    assert not first.halted
    second = RiskGate(RiskLimits(max_daily_loss=1000))
    actions = {0: lambda s: s.p.gw.adjust_cash(-800), 3: _buy(1)}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=5, broker_kw={"risk": second})
    assert second.halted and second.halt_reason.startswith("daily loss 1600")
    assert strat.statuses_of(strat.orders[0]) == ["Rejected"]
    assert fake_gateway.messages("placeOrder") == []
    assert _agree(fake_gateway, broker, strat) == 0


def test_case13_next_valid_id_rollback_across_a_restart_never_reuses_ids(fake_gateway, ib_lib):
    run_session(fake_gateway, ib_lib, actions={0: _buy(1), 1: _buy(1)}, live_bars=3)
    first_ids = _placed_ids(fake_gateway)
    fake_gateway.roll_back_next_valid_id(1, notify=False)
    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: _sell(2)}, live_bars=3)
    ids = _placed_ids(fake_gateway)
    assert len(ids) == 3 and ids[-1] > max(first_ids)
    assert strat.statuses_of(strat.orders[0])[-1] == "Completed"
    assert all(o.status == "Filled" for o in fake_gateway.orders())
    assert _agree(fake_gateway, broker, strat) == 0


def test_case17_commission_before_its_execution_via_req_executions_is_matched(fake_gateway, ib_lib):
    fake_gateway.configure(commission_on_req_executions=False)
    actions = {0: _limit_buy(2),
               1: lambda s: s.p.gw.fill_then_drop_before_execution(s.ib_id(s.orders[0]), price=1000.0)}
    strat, store, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=4)
    (execution,) = fake_gateway.executions()
    (booked,) = broker.journal.executions()
    assert store.reconnects == 1
    assert execution.commission > 0 and booked["commission"] == pytest.approx(execution.commission)
    assert strat.orders[0].executed.comm == pytest.approx(execution.commission)
    assert _agree(fake_gateway, broker, strat) == 2


def test_case17_adopted_position_gets_its_average_price(fake_gateway, ib_lib):
    fake_gateway.hold_position(10, 95.5)
    seen: list[tuple[float, float]] = []

    def look_and_close(strat: Scripted) -> None:
        position = strat.getposition()
        seen.append((position.size, position.price))
        strat.sent(strat.close())

    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: look_and_close}, live_bars=3,
                                   broker_kw={"foreign": "adopt"})
    assert seen == [(10, pytest.approx(95.5))]
    assert [m.get("action") for m in fake_gateway.messages("placeOrder")] == ["SELL"]
    assert _agree(fake_gateway, broker, strat) == 0


def test_case03_orphan_filled_between_processes_is_counted(fake_gateway, ib_lib):
    """The previous process's working order fills while no process runs: the restart books it
    from reqExecutions, and the strategy starts from that position instead of buying again."""
    run_session(fake_gateway, ib_lib, actions={0: _limit_buy(1)}, live_bars=2)
    (orphan,) = fake_gateway.orders()
    fake_gateway.fill(orphan.order_id, price=500.0)
    seen: list[float] = []
    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: lambda s: seen.append(s.getposition().size)},
                                   live_bars=2)
    assert seen == [1]
    assert _placed_ids(fake_gateway) == [orphan.order_id]
    assert broker.journal.order(orphan.order_ref).state == "Filled"
    assert _agree(fake_gateway, broker, strat) == 1


def test_case07_open_order_the_journal_did_not_create_is_left_alone(fake_gateway, ib_lib, caplog):
    """An order placed by hand under the same client id is reported, never cancelled, resumed or
    counted; the strategy's own order goes out as usual."""
    hand = ib_lib.IB()
    hand.connect("127.0.0.1", fake_gateway.port, clientId=CLIENT_ID, timeout=5)
    contract = hand.qualifyContracts(ib_lib.Stock("SPY", "SMART", "USD"))[0]
    manual = hand.placeOrder(contract, ib_lib.LimitOrder("BUY", 7, 1.0, orderRef="by-hand"))
    fake_gateway.wait_for_order(manual.order.orderId, status="Submitted")
    hand.disconnect()
    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: _buy(1)}, live_bars=3)
    assert "was not placed by this run: left alone" in caplog.text
    by_ref = {o.order_ref: o.status for o in fake_gateway.orders()}
    assert by_ref["by-hand"] == "Submitted"
    assert strat.statuses_of(strat.orders[0])[-1] == "Completed" and broker.open_orders() == []
    assert _agree(fake_gateway, broker, strat) == 1
