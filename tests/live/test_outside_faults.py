"""An outside audit of the live path on the fake gateway, with both clients: restarts in the
middle of partially filled orders, corrections that arrive while no process runs, the kill
switch on a partial fill, a drop during a restart's reconciliation. At the end of each, the
gateway's position equals the journal's and the strategy's, and no order went out twice."""
from __future__ import annotations

import logging

import backtrader as bt
import pytest

from btedge.live import RiskGate, RiskLimits
from tests.support.live_session import Scripted, run_session

pytestmark = pytest.mark.usefixtures("time_limit")


@pytest.fixture(autouse=True)
def _no_tracebacks(caplog):
    caplog.set_level(logging.INFO)
    yield
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert not tracebacks, f"tracebacks logged: {tracebacks}"


def _limit_buy(size: float):
    def action(strat: Scripted) -> None:
        strat.sent(strat.buy(size=size, exectype=bt.Order.Limit, price=round(strat.data.close[0] * 0.5, 2)))
    return action


def _gw_position(gw) -> float:
    return sum(p.quantity for p in gw.positions() if p.instrument.symbol == "SPY")


def _journal_positions(broker) -> float:
    return sum(size for _, size, _ in broker.journal.positions().values())


def _placed(gw) -> list[tuple[int, str, float]]:
    placed = [(m.int("orderId"), m.get("action"), m.float("totalQuantity")) for m in gw.messages("placeOrder")]
    ids = [p[0] for p in placed]
    assert len(ids) == len(set(ids)), f"an order id was sent twice: {placed}"
    return placed


def _agree(gw, broker, strat) -> float:
    mine = strat.getposition().size
    assert _journal_positions(broker) == pytest.approx(mine)
    assert _gw_position(gw) == pytest.approx(mine)
    return mine


def test_restart_with_a_partially_filled_order_more_filled_while_down(fake_gateway, ib_lib):
    """Process 1: BUY 5 limit, 2 filled, process ends with it working. While no process runs 1
    more fills. Process 2 starts at +3 (not 2, not 5), resumes the order (no second placeOrder),
    and the last 2 complete it: +5 everywhere, the journal's order Filled with 5 booked."""
    def partial(strat: Scripted) -> None:
        strat.p.gw.partial_fill(strat.ib_id(strat.orders[0]), 2, price=50.0)

    first, _, broker1 = run_session(fake_gateway, ib_lib, actions={0: _limit_buy(5), 1: partial}, live_bars=3)
    assert _agree(fake_gateway, broker1, first) == 2
    (orphan,) = fake_gateway.orders()
    fake_gateway.partial_fill(orphan.order_id, 1, price=51.0)
    seen: list[float] = []
    actions = {0: lambda s: seen.append(s.getposition().size),
               1: lambda s: s.p.gw.fill(orphan.order_id, price=52.0)}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=4)
    assert seen == [3]
    assert _placed(fake_gateway) == [(orphan.order_id, "BUY", 5)]
    assert broker.journal.order(orphan.order_ref).state == "Filled"
    assert sum(e["shares"] for e in broker.journal.executions()) == 5
    assert _agree(fake_gateway, broker, strat) == 5


def test_restart_resumed_partial_order_is_taken_over_by_the_strategys_same_order(fake_gateway, ib_lib):
    """After the restart the strategy asks again for what is left (BUY 3 limit): that is the
    resumed order's remainder, not a second order."""
    def partial(strat: Scripted) -> None:
        strat.p.gw.partial_fill(strat.ib_id(strat.orders[0]), 2, price=50.0)

    run_session(fake_gateway, ib_lib, actions={0: _limit_buy(5), 1: partial}, live_bars=3)
    (orphan,) = fake_gateway.orders()
    actions = {0: _limit_buy(3), 2: lambda s: s.p.gw.fill(orphan.order_id, price=52.0)}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=4)
    assert _placed(fake_gateway) == [(orphan.order_id, "BUY", 5)]
    (order,) = strat.orders
    assert strat.ib_id(order) == orphan.order_id and order.executed.size == 3
    assert strat.statuses_of(order)[-1] == "Completed"
    assert _agree(fake_gateway, broker, strat) == 5


def test_correction_issued_while_no_process_runs_replaces_at_restart(fake_gateway, ib_lib):
    """A fill of 3 is booked by process 1; IB corrects it to 2 shares at another price while no
    process runs. Process 2's reconciliation replaces the booking (never adds): +2 everywhere."""
    def fill(strat: Scripted) -> None:
        strat.p.gw.fill(strat.ib_id(strat.orders[0]), price=50.0)

    first, _, broker1 = run_session(fake_gateway, ib_lib, actions={0: _limit_buy(3), 1: fill}, live_bars=3)
    assert _agree(fake_gateway, broker1, first) == 3
    (execution,) = fake_gateway.executions()
    fake_gateway.correct_execution(execution.exec_id, shares=2, price=49.0)
    assert _gw_position(fake_gateway) == 2
    seen: list[tuple[float, float]] = []
    strat, _, broker = run_session(fake_gateway, ib_lib,
                                   actions={0: lambda s: seen.append((s.getposition().size, s.getposition().price))},
                                   live_bars=2)
    assert seen == [(2, pytest.approx(49.0))]
    (booked,) = broker.journal.executions()
    assert booked["shares"] == 2 and booked["price"] == pytest.approx(49.0)
    assert fake_gateway.messages("placeOrder")[1:] == []
    assert _agree(fake_gateway, broker, strat) == 2


def test_kill_switch_on_a_partially_filled_entry_cancels_the_rest_and_flattens_the_part(fake_gateway, ib_lib,
                                                                                      tmp_path):
    """BUY 5 limit, 2 filled, then the kill switch: the rest is cancelled (never filled later)
    and one SELL 2 flattens; nothing ends long or short."""
    switch = tmp_path / "STOP"
    risk = RiskGate(RiskLimits(kill_switch=switch))

    def partial(strat: Scripted) -> None:
        strat.p.gw.partial_fill(strat.ib_id(strat.orders[0]), 2, price=50.0)

    actions = {0: _limit_buy(5), 1: partial, 2: lambda s: switch.touch()}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=6, broker_kw={"risk": risk})
    entry = strat.orders[0]
    assert strat.statuses_of(entry)[-1] == "Canceled" and entry.executed.size == 2
    gw_entry = next(o for o in fake_gateway.orders() if o.order_id == strat.ib_id(entry))
    assert gw_entry.status == "Cancelled" and gw_entry.filled == 2
    sides = [(a, q) for _, a, q in _placed(fake_gateway)]
    assert sides == [("BUY", 5), ("SELL", 2)]
    assert broker.risk_status()["state"] == "halted"
    assert _agree(fake_gateway, broker, strat) == 0


def test_drop_during_the_restarts_reconciliation_books_the_orphans_fill_once(fake_gateway, ib_lib):
    """The previous process's order fills while none runs; the restart's first reqExecutions is
    answered by a dropped socket. The reconciliation is retried after the reconnect and books the
    fill exactly once; the strategy starts at +4 and sends nothing."""
    run_session(fake_gateway, ib_lib, actions={0: _limit_buy(4)}, live_bars=2)
    (orphan,) = fake_gateway.orders()
    fake_gateway.fill(orphan.order_id, price=48.0)
    fake_gateway.drop_on("reqExecutions", count=1)
    seen: list[float] = []
    strat, store, broker = run_session(fake_gateway, ib_lib, actions={0: lambda s: seen.append(s.getposition().size)},
                                       live_bars=2)
    assert store.reconnects >= 1
    assert seen == [4]
    assert len(broker.journal.executions()) == 1
    assert broker.journal.order(orphan.order_ref).state == "Filled"
    assert _placed(fake_gateway) == [(orphan.order_id, "BUY", 4)]
    assert _agree(fake_gateway, broker, strat) == 4


def test_kill_switch_halt_outlives_a_restart_after_the_file_is_removed(fake_gateway, ib_lib, tmp_path):
    """Halted and flattened by the kill switch; the file is removed and the process restarted:
    the new process is still halted (resuming is the explicit ``.resume`` step), refuses BUY 1."""
    switch = tmp_path / "STOP"
    buy = lambda s: s.sent(s.buy(size=2))  # noqa: E731
    run_session(fake_gateway, ib_lib, actions={0: buy, 2: lambda s: switch.touch()}, live_bars=5,
                broker_kw={"risk": RiskGate(RiskLimits(kill_switch=switch))})
    assert _gw_position(fake_gateway) == 0
    switch.unlink()
    risk = RiskGate(RiskLimits(kill_switch=switch))
    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: lambda s: s.orders.append(s.buy(size=1))},
                                   live_bars=2, broker_kw={"risk": risk})
    assert risk.halted and strat.statuses_of(strat.orders[0]) == ["Rejected"]
    assert [a for _, a, _ in _placed(fake_gateway)] == ["BUY", "SELL"]
    assert _agree(fake_gateway, broker, strat) == 0


def test_max_position_counts_a_working_order_resumed_from_the_previous_process(fake_gateway, ib_lib):
    """Process 1 leaves BUY 2 limit working under max_position=2. Process 2's market BUY 1 would
    make the projected position 3: refused, although the strategy's own position is 0."""
    limits = RiskLimits(max_position=2)
    run_session(fake_gateway, ib_lib, actions={0: _limit_buy(2)}, live_bars=2, broker_kw={"risk": RiskGate(limits)})
    (orphan,) = fake_gateway.orders()
    actions = {0: lambda s: s.orders.append(s.buy(size=1)), 2: lambda s: s.p.gw.fill(orphan.order_id, price=50.0)}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=4,
                                   broker_kw={"risk": RiskGate(limits)})
    assert strat.statuses_of(strat.orders[0]) == ["Rejected"]
    assert _placed(fake_gateway) == [(orphan.order_id, "BUY", 2)]
    assert _agree(fake_gateway, broker, strat) == 2


def test_an_account_change_halt_is_lifted_by_the_restart_the_docs_prescribe(fake_gateway, ib_lib):
    """docs/live_journal.md: an account that changes across a reconnect "halts without flattening;
    restart to trade it". Once the gateway serves the original account again, a restart trades:
    the halt was about that connection, and without --kill-switch there is no FILE.resume step."""
    def switch_account(strat: Scripted) -> None:
        strat.p.gw.configure(accounts=("DU7654321",))
        strat.p.gw.drop_connections()

    buy = lambda s: s.sent(s.buy(size=1))  # noqa: E731
    _, _, first = run_session(fake_gateway, ib_lib, actions={0: buy, 1: switch_account}, live_bars=3)
    assert first.risk_status()["state"] == "halted"
    fake_gateway.configure(accounts=("DU1234567",))
    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: buy}, live_bars=2)
    assert broker.risk_status()["state"] == "active"
    assert strat.statuses_of(strat.orders[0])[-1] == "Completed"
    assert _agree(fake_gateway, broker, strat) == 2


def _forget_executions(gw) -> None:
    """IB keeps executions for a limited time (the current day by default); completed orders outlive them."""
    gw.call(lambda: gw.server.book.executions.clear())


def test_fill_whose_executions_ib_forgot_is_booked_from_the_completed_order(fake_gateway, ib_lib, caplog):
    """The previous process's BUY 2 limit fills while none runs, and by the restart IB reports its
    completed order Filled but no longer its executions. The 2 are the strategy's (its own order),
    not 'foreign': booked once from the completed order, so the strategy starts at +2 and does not
    buy them again."""
    run_session(fake_gateway, ib_lib, actions={0: _limit_buy(2)}, live_bars=2)
    (orphan,) = fake_gateway.orders()
    fake_gateway.fill(orphan.order_id, price=48.0)
    _forget_executions(fake_gateway)
    seen: list[tuple[float, float]] = []
    strat, _, broker = run_session(fake_gateway, ib_lib,
                                   actions={0: lambda s: seen.append((s.getposition().size, s.getposition().price))},
                                   live_bars=2)
    assert seen == [(2, pytest.approx(48.0))]
    assert broker.journal.order(orphan.order_ref).state == "Filled"
    (booked,) = broker.journal.executions()
    assert booked["shares"] == 2 and booked["exec_id"].startswith("btedge-completed.")
    assert "are not the strategy's" not in caplog.text
    assert "booked +2 SPY from IB's completed order" in caplog.text
    assert _placed(fake_gateway) == [(orphan.order_id, "BUY", 2)]
    assert _agree(fake_gateway, broker, strat) == 2
    # a third process: booked once, never again
    strat, _, broker = run_session(fake_gateway, ib_lib, live_bars=2)
    assert len(broker.journal.executions()) == 1 and _agree(fake_gateway, broker, strat) == 2


def test_partial_fill_of_a_cancelled_order_whose_executions_ib_forgot(fake_gateway, ib_lib):
    """BUY 5 limit: 2 fill, IB cancels the rest, and its executions are gone by the restart: the
    completed order's filled quantity (2) is booked; the order ends Cancelled with 2 filled."""
    run_session(fake_gateway, ib_lib, actions={0: _limit_buy(5)}, live_bars=2)
    (orphan,) = fake_gateway.orders()
    fake_gateway.partial_fill(orphan.order_id, 2, price=47.0)
    fake_gateway.cancel(orphan.order_id)
    _forget_executions(fake_gateway)
    strat, _, broker = run_session(fake_gateway, ib_lib, live_bars=2)
    record = broker.journal.order(orphan.order_ref)
    assert record.state == "Cancelled" and record.filled == 2
    assert _agree(fake_gateway, broker, strat) == 2


def _bracket(size: float):
    def action(strat: Scripted) -> None:
        close = strat.data.close[0]
        strat.sent(*strat.buy_bracket(size=size, exectype=bt.Order.Market, stopprice=round(close * 0.5, 2),
                                      limitprice=round(close * 2.0, 2)))
    return action


def test_restart_then_exit_cancels_the_resumed_bracket_legs(fake_gateway, ib_lib, caplog):
    """Process 1 buys 2 with a stop and a take-profit leg and ends with the legs working. Process
    2 (the strategy knows nothing of the legs) closes its +2: the legs, which now protect nothing,
    are cancelled instead of waiting to sell 2 more (a long-only strategy must never end short)."""
    run_session(fake_gateway, ib_lib, actions={0: _bracket(2)}, live_bars=3)
    legs = [o for o in fake_gateway.orders() if o.parent_id]
    assert [o.status for o in legs] == ["Submitted", "Submitted"]
    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: lambda s: s.sent(s.close())}, live_bars=4)
    by_id = {o.order_id: o for o in fake_gateway.orders()}
    assert [by_id[o.order_id].status for o in legs] == ["Cancelled", "Cancelled"]
    assert "protects a position that is closed: cancelled" in caplog.text
    assert [(a, q) for _, a, q in _placed(fake_gateway)] == [("BUY", 2), ("SELL", 2), ("SELL", 2), ("SELL", 2)]
    assert _agree(fake_gateway, broker, strat) == 0


def test_bracket_legs_left_by_the_strategys_own_exit_are_cancelled(fake_gateway, ib_lib):
    """In one process: the strategy exits with a plain close() and forgets its legs; the broker
    cancels them on the next bar, so a later stop never takes the account short."""
    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: _bracket(1), 2: lambda s: s.sent(s.close())},
                                   live_bars=5)
    legs = [o for o in fake_gateway.orders() if o.parent_id]
    assert [o.status for o in legs] == ["Cancelled", "Cancelled"]
    assert _agree(fake_gateway, broker, strat) == 0


def test_kill_switch_flattens_only_the_strategys_shares_beside_foreign_ones(fake_gateway, ib_lib, tmp_path):
    """The account holds 10 bought by hand; the strategy buys 2; the kill switch sells the
    strategy's 2 only (split by max_order_size=1), and the hand-bought 10 stay."""
    fake_gateway.hold_position(10, 90.0)
    switch = tmp_path / "STOP"
    risk = RiskGate(RiskLimits(kill_switch=switch, max_order_size=1))
    actions = {0: lambda s: s.sent(s.buy(size=1)), 1: lambda s: s.sent(s.buy(size=1)), 3: lambda s: switch.touch()}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=7, broker_kw={"risk": risk})
    assert [(a, q) for _, a, q in _placed(fake_gateway)] == [("BUY", 1), ("BUY", 1), ("SELL", 1), ("SELL", 1)]
    assert strat.getposition().size == 0 and _journal_positions(broker) == 0
    assert _gw_position(fake_gateway) == 10


def test_drop_right_after_an_unacknowledged_order_keeps_it_and_sends_nothing_twice(fake_gateway, ib_lib):
    """The order reaches IB but its acknowledgement does not reach us before the socket drops.
    After the reconnect it is IB's open order (not Lost, not resent); its later fill counts once."""
    def send_then_drop(strat: Scripted) -> None:
        strat.p.gw.hold_acknowledgements(1)
        _limit_buy(3)(strat)
        strat.p.gw.drop_connections()

    actions = {0: send_then_drop, 3: lambda s: s.p.gw.fill(s.ib_id(s.orders[0]), price=50.0)}
    strat, store, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=6)
    order = strat.orders[0]
    assert store.reconnects == 1
    assert "Rejected" not in strat.statuses_of(order) and strat.statuses_of(order)[-1] == "Completed"
    assert len(_placed(fake_gateway)) == 1
    assert _agree(fake_gateway, broker, strat) == 3


def test_restart_while_the_kill_switch_flatten_is_still_working_ends_flat_not_short(fake_gateway, ib_lib, tmp_path):
    """The kill switch's SELL 2 is working (the market does not fill it) when the process ends.
    The restart is still halted and must flatten exactly once more at most: the account ends
    flat, never -2, whether the old flatten or a new one does it."""
    switch = tmp_path / "STOP"

    def halt_unfilled(strat: Scripted) -> None:
        strat.p.gw.configure(auto_fill=False)
        switch.touch()

    run_session(fake_gateway, ib_lib, actions={0: lambda s: s.sent(s.buy(size=2)), 2: halt_unfilled}, live_bars=5,
                broker_kw={"risk": RiskGate(RiskLimits(kill_switch=switch))})
    assert [(a, q) for _, a, q in _placed(fake_gateway)] == [("BUY", 2), ("SELL", 2)]
    assert _gw_position(fake_gateway) == 2
    fake_gateway.configure(auto_fill=True)
    strat, _, broker = run_session(fake_gateway, ib_lib, live_bars=5,
                                   broker_kw={"risk": RiskGate(RiskLimits(kill_switch=switch))})
    assert broker.risk_status()["state"] == "halted"
    assert _agree(fake_gateway, broker, strat) == 0
    sells = [q for _, a, q in _placed(fake_gateway) if a == "SELL"]
    assert sum(o.filled for o in fake_gateway.orders() if o.action == "SELL") == 2, sells


def test_a_rejected_flatten_is_retried_until_flat(fake_gateway, ib_lib, tmp_path):
    """The kill switch's flatten is rejected by IB (error 201): the broker flattens again on a
    later bar, once, and the account ends flat."""
    switch = tmp_path / "STOP"

    def halt_and_reject(strat: Scripted) -> None:
        strat.p.gw.configure(auto_fill=False)
        switch.touch()

    def reject_flatten(strat: Scripted) -> None:
        (flatten,) = [o for o in strat.p.gw.orders() if o.action == "SELL"]
        strat.p.gw.reject(flatten.order_id)
        strat.p.gw.configure(auto_fill=True)

    actions = {0: lambda s: s.sent(s.buy(size=2)), 2: halt_and_reject, 3: reject_flatten}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=8,
                                   broker_kw={"risk": RiskGate(RiskLimits(kill_switch=switch))})
    assert [(a, q) for _, a, q in _placed(fake_gateway)] == [("BUY", 2), ("SELL", 2), ("SELL", 2)]
    assert _agree(fake_gateway, broker, strat) == 0
