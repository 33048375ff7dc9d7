"""Orders through the real clients: fills with commission, partial fills, rejects, cancels, brackets, auto-fill."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("time_limit")


@pytest.fixture
def spy(ib, ib_lib):
    (contract,) = ib.qualifyContracts(ib_lib.Stock("SPY", "SMART", "USD"))
    return contract


def test_market_order_fills_with_commission_position_and_cash(ib, ib_lib, fake_gateway, spy, wait):
    order = ib_lib.MarketOrder("BUY", 100)
    order.orderRef = "btedge:1"
    trade = ib.placeOrder(spy, order)
    wait(lambda: trade.orderStatus.status == "Submitted", what="Submitted")
    placed = fake_gateway.wait_for_message("placeOrder")
    assert placed.get("orderType") == "MKT" and placed.get("orderRef") == "btedge:1"
    assert placed.float("totalQuantity") == 100
    fake_gateway.fill(trade.order.orderId, price=101.25)
    wait(lambda: trade.isDone() and trade.fills and trade.fills[0].commissionReport.commission > 0,
         what="fill with commission")
    fill = trade.fills[0]
    assert trade.orderStatus.status == "Filled" and trade.orderStatus.avgFillPrice == 101.25
    assert fill.execution.shares == 100 and fill.execution.side == "BOT"
    assert fill.execution.orderRef == "btedge:1"
    assert fill.commissionReport.commission == pytest.approx(1.0)  # max(100 * 0.005, 1.0)
    wait(lambda: any(p.position == 100 for p in ib.positions()), what="position")
    cash = {v.tag: float(v.value) for v in ib.accountValues() if v.currency == "BASE"}
    wait(lambda: {v.tag: float(v.value) for v in ib.accountValues() if v.currency == "BASE"}
         .get("TotalCashBalance") == pytest.approx(1_000_000 - 10_125 - 1.0), what="cash")
    assert cash  # BASE values exist (backtrader's IBBroker reads them)
    assert [p.quantity for p in fake_gateway.positions()] == [100]


def test_partial_fills_accumulate_then_complete(ib, ib_lib, fake_gateway, spy, wait):
    trade = ib.placeOrder(spy, ib_lib.LimitOrder("SELL", 300, 99.5))
    fake_gateway.partial_fill(trade.order.orderId, 100, price=99.5)
    wait(lambda: trade.orderStatus.filled == 100, what="first partial")
    assert trade.orderStatus.status == "Submitted" and trade.orderStatus.remaining == 200
    fake_gateway.partial_fill(trade.order.orderId, 150, price=99.75)
    wait(lambda: trade.orderStatus.filled == 250, what="second partial")
    fake_gateway.fill(trade.order.orderId)
    wait(lambda: trade.orderStatus.status == "Filled", what="Filled")
    assert [f.execution.cumQty for f in trade.fills] == [100, 250, 300]
    assert len({f.execution.execId for f in trade.fills}) == 3
    assert trade.orderStatus.avgFillPrice == pytest.approx((100 * 99.5 + 150 * 99.75 + 50 * 99.5) / 300)


@pytest.mark.parametrize("inactive", [False, True])
def test_reject_sends_error_201(ib, ib_lib, fake_gateway, spy, wait, inactive):
    fake_gateway.configure(reject_sends_inactive=inactive)
    errors = []
    ib.errorEvent += lambda req_id, code, *rest: errors.append((req_id, code))
    trade = ib.placeOrder(spy, ib_lib.LimitOrder("BUY", 10, 50.0))
    fake_gateway.reject(trade.order.orderId, "margin")
    wait(lambda: (trade.order.orderId, 201) in errors, what="error 201")
    if inactive:
        wait(lambda: trade.orderStatus.status == "Inactive", what="orderStatus(Inactive)")
    else:
        assert trade.isDone()  # both clients mark a trade Cancelled on a non-warning order error
    assert fake_gateway.wait_for_order(trade.order.orderId).status == "Inactive"


def test_client_cancel_and_gateway_cancel(ib, ib_lib, fake_gateway, spy, wait):
    errors = []
    ib.errorEvent += lambda req_id, code, *rest: errors.append((req_id, code))
    first = ib.placeOrder(spy, ib_lib.LimitOrder("BUY", 10, 50.0))
    fake_gateway.wait_for_order(first.order.orderId, status="Submitted")
    ib.cancelOrder(first.order)
    wait(lambda: first.orderStatus.status == "Cancelled", what="client cancel")
    assert fake_gateway.wait_for_message("cancelOrder").int("orderId") == first.order.orderId
    second = ib.placeOrder(spy, ib_lib.StopOrder("SELL", 10, 90.0))
    fake_gateway.cancel(second.order.orderId, reason="expired")
    wait(lambda: second.orderStatus.status == "Cancelled", what="gateway cancel")
    assert (first.order.orderId, 202) in errors and (second.order.orderId, 202) in errors


def test_bracket_waits_for_transmit_then_parent_fill_then_oca(ib, ib_lib, fake_gateway, spy, wait):
    parent, take_profit, stop_loss = ib.bracketOrder("BUY", 10, 100.0, 105.0, 95.0)
    trades = [ib.placeOrder(spy, o) for o in (parent, take_profit, stop_loss)]
    wait(lambda: trades[0].orderStatus.status == "Submitted", what="parent Submitted")
    assert [t.orderStatus.status for t in trades[1:]] == ["PreSubmitted", "PreSubmitted"]
    placed = fake_gateway.messages("placeOrder")
    assert [m.flag("transmit") for m in placed] == [False, False, True]
    assert [m.int("parentId") for m in placed[1:]] == [parent.orderId] * 2
    fake_gateway.fill(parent.orderId, price=100.0)
    wait(lambda: [t.orderStatus.status for t in trades] == ["Filled", "Submitted", "Submitted"],
         what="children Submitted")
    fake_gateway.fill(stop_loss.orderId, price=95.0)
    wait(lambda: trades[1].orderStatus.status == "Cancelled" and trades[2].orderStatus.status == "Filled",
         what="OCA cancel of the take-profit")
    wait(lambda: all(p.position == 0 for p in ib.positions()), what="flat")


def test_auto_fill_market_at_next_open_and_limits_when_touched(ib, ib_lib, fake_gateway, gateway_bars, spy, wait):
    fake_gateway.configure(auto_fill=True)
    market = ib.placeOrder(spy, ib_lib.MarketOrder("BUY", 10))
    far_limit = ib.placeOrder(spy, ib_lib.LimitOrder("BUY", 10, 1.0))
    fake_gateway.wait_for_order(far_limit.order.orderId, status="Submitted")
    fake_gateway.push_bars(1)
    wait(lambda: market.orderStatus.status == "Filled", what="market fill")
    assert market.orderStatus.avgFillPrice == gateway_bars[40].open
    assert far_limit.orderStatus.status == "Submitted"
    touched = min(b.low for b in gateway_bars[41:45]) + 0.01
    limit = ib.placeOrder(spy, ib_lib.LimitOrder("BUY", 5, round(touched, 2)))
    fake_gateway.wait_for_order(limit.order.orderId, status="Submitted")
    fake_gateway.push_bars(4)
    wait(lambda: limit.orderStatus.status == "Filled", what="limit fill")
    assert limit.orderStatus.avgFillPrice <= round(touched, 2)


def test_commission_before_execution_and_held_commissions(ib, ib_lib, fake_gateway, spy, wait):
    fake_gateway.configure(commission_timing="manual")
    trade = ib.placeOrder(spy, ib_lib.MarketOrder("BUY", 10))
    fake_gateway.fill(trade.order.orderId, price=100.0)
    wait(lambda: trade.orderStatus.status == "Filled", what="fill")
    ib.sleep(0.05)
    assert trade.fills and trade.fills[0].commissionReport.commission == 0
    assert fake_gateway.release_commissions() == 1
    wait(lambda: trade.fills[0].commissionReport.commission == pytest.approx(1.0), what="late commission")


def test_commission_before_execution_is_recovered_by_req_executions(ib, ib_lib, fake_gateway, spy, wait):
    fake_gateway.configure(commission_timing="before", order_status_on_fill=False)
    trade = ib.placeOrder(spy, ib_lib.MarketOrder("BUY", 10))
    fake_gateway.fill(trade.order.orderId, price=100.0)
    wait(lambda: trade.fills, what="execution")
    ib.sleep(0.05)
    # Both clients drop a commission report that precedes its execution (keyed by execId only)...
    assert trade.fills[0].commissionReport.commission == 0
    # ...and with orderStatus omitted only the execution tells the client the order filled.
    assert sum(f.execution.shares for f in trade.fills) == 10
    assert not fake_gateway.wait_for_order(trade.order.orderId).is_active
    ib.reqExecutions()
    wait(lambda: trade.fills[0].commissionReport.commission == pytest.approx(1.0), what="resync commission")


def test_modify_and_duplicate_order_id(ib, ib_lib, fake_gateway, spy, wait):
    errors = []
    ib.errorEvent += lambda req_id, code, *rest: errors.append((req_id, code))
    trade = ib.placeOrder(spy, ib_lib.LimitOrder("BUY", 10, 90.0))
    fake_gateway.wait_for_order(trade.order.orderId, status="Submitted")
    trade.order.lmtPrice = 91.0
    ib.placeOrder(spy, trade.order)
    wait(lambda: fake_gateway.wait_for_order(trade.order.orderId).lmt_price == 91.0, what="modify")
    fake_gateway.fill(trade.order.orderId)
    wait(lambda: trade.orderStatus.status == "Filled", what="fill")
    assert trade.fills[-1].execution.price == 91.0
    # The same id again (as a restarted process with a rolled-back id would send it).
    ib.client.placeOrder(trade.order.orderId, spy, ib_lib.MarketOrder("BUY", 1))
    wait(lambda: (trade.order.orderId, 103) in errors, what="error 103")
