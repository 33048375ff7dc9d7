"""Connection faults through the real clients: socket drop and reconnect, id rollback, injected errors."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("time_limit")


@pytest.fixture
def spy(ib, ib_lib):
    (contract,) = ib.qualifyContracts(ib_lib.Stock("SPY", "SMART", "USD"))
    return contract


def _reconnect(ib, gateway) -> None:
    ib.connect("127.0.0.1", gateway.port, clientId=1, timeout=5)


def test_dropped_socket_is_a_disconnect_and_reconnect_resyncs(ib, ib_lib, fake_gateway, spy, wait):
    disconnects = []
    ib.disconnectedEvent += lambda: disconnects.append(True)
    filled = ib.placeOrder(spy, ib_lib.MarketOrder("BUY", 20))
    fake_gateway.fill(filled.order.orderId, price=100.0)
    resting = ib.placeOrder(spy, ib_lib.LimitOrder("BUY", 5, 80.0))
    fake_gateway.wait_for_order(resting.order.orderId, status="Submitted")
    wait(lambda: ib.positions(), what="position before the drop")

    assert fake_gateway.drop_connections() == 1
    wait(lambda: not ib.isConnected(), what="client notices the drop")
    assert disconnects == [True]

    _reconnect(ib, fake_gateway)
    assert [t.order.orderId for t in ib.openTrades()] == [resting.order.orderId]
    assert [(p.contract.symbol, p.position) for p in ib.positions()] == [("SPY", 20)]
    assert [f.execution.orderId for f in ib.fills()] == [filled.order.orderId]
    assert len(fake_gateway.messages("placeOrder")) == 2, "nothing was re-sent"
    assert len(fake_gateway.messages("startApi")) == 2
    completed = ib.reqCompletedOrders(apiOnly=False)
    assert [(t.order.permId, t.orderStatus.status) for t in completed] == [
        (filled.order.permId, "Filled")]
    # The working order survived on the gateway side and can still fill.
    fake_gateway.fill(resting.order.orderId, price=80.0)
    wait(lambda: any(p.position == 25 for p in ib.positions()), what="fill after reconnect")


def test_next_valid_id_rollback_makes_the_client_reuse_an_id(ib, ib_lib, fake_gateway, spy, wait):
    errors = []
    ib.errorEvent += lambda req_id, code, *rest: errors.append((req_id, code))
    first = ib.placeOrder(spy, ib_lib.MarketOrder("BUY", 1))
    fake_gateway.fill(first.order.orderId, price=100.0)
    wait(lambda: first.orderStatus.status == "Filled", what="fill")
    used_id = first.order.orderId

    fake_gateway.drop_connections()
    wait(lambda: not ib.isConnected(), what="drop")
    fake_gateway.roll_back_next_valid_id(1)
    _reconnect(ib, fake_gateway)
    next_id = ib.client.getReqId()
    assert next_id <= used_id, "the client took the rolled-back id"
    reused = None
    for _ in range(used_id - next_id + 1):
        trade = ib.placeOrder(spy, ib_lib.MarketOrder("BUY", 1))
        if trade.order.orderId == used_id:
            reused = trade
            break
    assert reused is not None
    wait(lambda: (used_id, 103) in errors, what="error 103 Duplicate order id")

    fake_gateway.clear_next_valid_id_override()
    ib.disconnect()
    _reconnect(ib, fake_gateway)
    assert ib.client.getReqId() > used_id


@pytest.mark.parametrize("code", [1100, 1101, 1102, 10182])
def test_injected_connectivity_errors_reach_error_event(ib, fake_gateway, code, wait):
    errors = []
    ib.errorEvent += lambda req_id, err, *rest: errors.append((req_id, err))
    assert fake_gateway.inject_error(code) == 1
    wait(lambda: (-1, code) in errors, what=f"error {code}")
    assert ib.isConnected()


def test_refused_connections_then_accepted_again(ib_lib, fake_gateway):
    fake_gateway.refuse_connections(0.5)
    client = ib_lib.IB()
    with pytest.raises(ConnectionRefusedError):
        client.connect("127.0.0.1", fake_gateway.port, clientId=5, timeout=2)
    deadline_client = ib_lib.IB()
    for _ in range(50):
        try:
            deadline_client.connect("127.0.0.1", fake_gateway.port, clientId=5, timeout=2)
            break
        except ConnectionRefusedError:
            deadline_client.sleep(0.05)
    assert deadline_client.isConnected()
    deadline_client.disconnect()
