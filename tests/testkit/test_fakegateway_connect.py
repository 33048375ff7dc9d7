"""The fake gateway speaks the TWS handshake and start-up sync to the unmodified clients."""
from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from btedge.testkit.fakegateway import FakeGateway, GatewayConfig, GatewayServer, stock

pytestmark = pytest.mark.usefixtures("time_limit")


def test_negotiates_the_client_maximum_capped_at_176(ib, fake_gateway):
    assert ib.client.serverVersion() == min(ib.client.MaxClientVersion, 176)
    assert ib.isConnected()
    assert ib.managedAccounts() == ["DU1234567"]
    start_api = fake_gateway.messages("startApi")
    assert [m.int("clientId") for m in start_api] == [1]
    assert fake_gateway.connected_clients() == [1]


@pytest.mark.parametrize("server_version", [157, 163, 176])
def test_forced_server_version_is_used_by_the_client(ib_lib, server_version):
    with FakeGateway(server_version=server_version) as gw:
        ib = ib_lib.IB()
        ib.connect("127.0.0.1", gw.port, clientId=3, timeout=5)
        try:
            assert ib.client.serverVersion() == server_version
            # The start-up sync completed: every request got its terminator (no time-outs).
            names = {m.name for m in gw.messages()}
            assert {"reqPositions", "reqOpenOrders", "reqCompletedOrders", "reqAccountUpdates",
                    "reqAccountUpdatesMulti", "reqExecutions"} <= names
            assert ib.accountValues(), "account values arrive during the sync"
            assert ib.reqCurrentTime().year >= 2025
        finally:
            ib.disconnect()


def test_a_server_version_below_157_is_refused_by_the_client(ib_lib):
    with FakeGateway(server_version=150) as gw:
        ib = ib_lib.IB()
        with pytest.raises(Exception):
            ib.connect("127.0.0.1", gw.port, clientId=3, timeout=1)
        assert not ib.isConnected()


def test_raw_handshake_bytes_follow_the_wire_format():
    with FakeGateway() as gw, socket.create_connection(("127.0.0.1", gw.port), timeout=3) as sock:
        sock.sendall(b"API\0" + struct.pack(">I", 9) + b"v157..176")
        length = struct.unpack(">I", _read_exact(sock, 4))[0]
        fields = _read_exact(sock, length).decode().split("\0")[:-1]
        assert len(fields) == 2 and fields[0] == "176" and fields[1].endswith(" UTC")
        payload = b"71\x002\x007\x00\x00"  # startApi, version 2, clientId 7, no capabilities
        sock.sendall(struct.pack(">I", len(payload)) + payload)
        first = [_read_message(sock) for _ in range(2)]
        assert ["9", "1"] == first[0][:2] and len(first[0]) == 3
        assert first[1] == ["15", "1", "DU1234567"]


def test_a_second_connection_with_the_same_client_id_gets_error_326(ib, ib_lib, fake_gateway):
    other = ib_lib.IB()
    errors = []
    other.errorEvent += lambda req_id, code, *rest: errors.append(code)
    with pytest.raises(Exception):
        other.connect("127.0.0.1", fake_gateway.port, clientId=1, timeout=1)
    assert not other.isConnected()
    assert ib.isConnected(), "the first session is untouched"
    assert fake_gateway.connected_clients() == [1]


def test_connect_async_from_an_asyncio_program(ib_lib, fake_gateway, gateway_bars):
    async def scenario() -> tuple[int, list, int]:
        ib = ib_lib.IB()
        await ib.connectAsync("127.0.0.1", fake_gateway.port, clientId=9, timeout=5)
        try:
            contracts = await ib.qualifyContractsAsync(ib_lib.Stock("SPY", "SMART", "USD"))
            bars = await ib.reqHistoricalDataAsync(contracts[0], "", "1 D", "1 min", "TRADES",
                                                   useRTH=False, formatDate=2)
            return ib.client.serverVersion(), contracts, len(bars)
        finally:
            ib.disconnect()

    previous = asyncio.get_event_loop_policy().get_event_loop()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        version, contracts, n_bars = loop.run_until_complete(asyncio.wait_for(scenario(), 10))
    finally:
        loop.close()
        asyncio.set_event_loop(previous)
    assert version == min(ib_lib.IB().client.MaxClientVersion, 176)
    assert contracts[0].conId == fake_gateway.instrument.con_id
    assert n_bars == 41


def test_gateway_server_runs_on_the_test_loop(ib_lib, gateway_bars):
    async def scenario() -> tuple[str, float]:
        server = GatewayServer(GatewayConfig())
        server.add_instrument(stock("SPY"), gateway_bars, history=40)
        port = await server.start()
        ib = ib_lib.IB()
        try:
            await ib.connectAsync("127.0.0.1", port, clientId=4, timeout=5)
            (spy,) = await ib.qualifyContractsAsync(ib_lib.Stock("SPY", "SMART", "USD"))
            trade = ib.placeOrder(spy, ib_lib.MarketOrder("BUY", 3))
            while not server.book.orders:
                await asyncio.sleep(0.01)
            server.dispatch(server.book.fill(server.book.find(trade.order.orderId), price=99.0))
            while not trade.isDone():
                await asyncio.sleep(0.01)
            return trade.orderStatus.status, trade.orderStatus.avgFillPrice
        finally:
            ib.disconnect()
            await server.stop()

    previous = asyncio.get_event_loop_policy().get_event_loop()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        assert loop.run_until_complete(asyncio.wait_for(scenario(), 10)) == ("Filled", 99.0)
    finally:
        loop.close()
        asyncio.set_event_loop(previous)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "peer closed"
        data += chunk
    return data


def _read_message(sock: socket.socket) -> list[str]:
    length = struct.unpack(">I", _read_exact(sock, 4))[0]
    return _read_exact(sock, length).decode().split("\0")[:-1]
