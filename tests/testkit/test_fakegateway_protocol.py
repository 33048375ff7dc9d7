"""Pure protocol checks: framing, handshake, client-message decoding, and every encoder read back by
the ib_insync and ib_async decoders themselves at the server versions where their layouts switch."""
from __future__ import annotations

import importlib
import logging
from datetime import timezone

import pytest

from btedge.testkit.fakegateway import Bar, future, stock
from btedge.testkit.fakegateway import messages as m
from btedge.testkit.fakegateway.orders import Execution, Order, Position
from btedge.testkit.fakegateway.protocol import (
    FrameDecoder,
    Handshake,
    ProtocolError,
    decode_client_message,
    encode_frame,
    negotiate_version,
    parse_handshake,
    to_field,
)

VERSIONS = (157, 162, 163, 164, 166, 170, 176)


class Recorder:
    """A stand-in wrapper that records every callback the decoder makes."""

    defaultTimezone = timezone.utc  # ib_async reads it in execDetails

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name: str):
        return lambda *args: self.calls.append((name, args))


def decode(lib: str, server_version: int, fields: list[object], caplog) -> list[tuple[str, tuple]]:
    """Run one message through the library's own Decoder; fail on any decoder error."""
    decoder_cls = importlib.import_module(f"{lib}.decoder").Decoder
    recorder = Recorder()
    decoder = decoder_cls(recorder, server_version)
    with caplog.at_level(logging.ERROR):
        decoder.interpret([to_field(f) for f in fields])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    return recorder.calls


@pytest.fixture(params=("ib_insync", "ib_async"))
def lib(request) -> str:
    return request.param


def _order(**kw) -> Order:
    base = dict(client_id=1, order_id=7, perm_id=1_000_007, instrument=stock("SPY"), action="BUY",
                quantity=10.0, order_type="STP LMT", lmt_price=101.5, aux_price=100.0, order_ref="ref:7",
                parent_id=6, status="Submitted", filled=4.0, avg_fill_price=100.25)
    base.update(kw)
    return Order(**base)


def test_frame_round_trip_and_field_encoding():
    frame = encode_frame([3, "a", 1.5, None, True, 2**31 - 1])
    assert FrameDecoder().feed(frame[:3]) == []
    decoder = FrameDecoder()
    assert decoder.feed(frame + frame[:5]) == [["3", "a", "1.5", "", "1", ""]]
    assert decoder.feed(frame[5:]) == [["3", "a", "1.5", "", "1", ""]]
    assert to_field(float("inf")) == "Infinite" and to_field(False) == "0"


def test_handshake_parsing_and_version_negotiation():
    assert parse_handshake(b"v157..178 +PACEAPI") == Handshake(157, 178, "+PACEAPI")
    assert negotiate_version(Handshake(157, 178)) == 176
    assert negotiate_version(Handshake(157, 176)) == 176
    assert negotiate_version(Handshake(157, 176), forced=160) == 160
    with pytest.raises(ProtocolError, match="v<min>..<max>"):
        parse_handshake(b"hello")


def test_client_messages_are_named_by_layout():
    place = decode_client_message(["3", "12", "0", "SPY", "STK", "", "0.0", "", "", "SMART", "", "USD", "", "",
                                   "", "", "BUY", "10.0", "LMT", "99.5", "", "DAY", "", "", "", "0", "ref", "0",
                                   "11", "0"])
    assert place.name == "placeOrder"
    assert (place.int("orderId"), place.get("symbol"), place.get("action"), place.float("lmtPrice")) == (
        12, "SPY", "BUY", 99.5)
    assert place.get("orderRef") == "ref" and not place.flag("transmit") and place.int("parentId") == 11
    assert decode_client_message(["99", "0"]).name == "reqCompletedOrders"
    assert decode_client_message(["12345"]).name == "msg12345"


@pytest.mark.parametrize("sv", [157, 176])
def test_open_order_has_the_verified_field_count(sv):
    assert len(m.open_order(_order(), sv)) == {157: 120, 176: 128}[sv]


@pytest.mark.parametrize("sv", VERSIONS)
def test_order_messages_decode_in_both_clients(lib, sv, caplog):
    order = _order()
    ((name, (order_id, contract, ib_order, state)),) = decode(lib, sv, m.open_order(order, sv), caplog)
    assert name == "openOrder" and order_id == 7
    assert (ib_order.permId, ib_order.clientId, ib_order.parentId, ib_order.orderRef) == (1_000_007, 1, 6, "ref:7")
    assert (ib_order.orderType, ib_order.lmtPrice, ib_order.auxPrice, ib_order.totalQuantity) == (
        "STP LMT", 101.5, 100.0, 10.0)
    assert state.status == "Submitted" and contract.conId == order.instrument.con_id
    ((name, args),) = decode(lib, sv, m.order_status(order), caplog)
    assert name == "orderStatus" and args[:5] == (7, "Submitted", 4.0, 6.0, 100.25)
    done = _order(status="Filled", completed_time="20250102 14:31:00 UTC", completed_status="Filled")
    ((name, (contract, ib_order, state)),) = decode(lib, sv, m.completed_order(done, sv), caplog)
    assert name == "completedOrder" and ib_order.permId == 1_000_007 and state.status == "Filled"
    assert state.completedTime == "20250102 14:31:00 UTC" and contract.symbol == "SPY"


@pytest.mark.parametrize("sv", VERSIONS)
def test_execution_commission_and_portfolio_decode_in_both_clients(lib, sv, caplog):
    order = _order(instrument=future("ES", "20261218"), status="Filled")
    ex = Execution("0001.01", order, 1_735_828_260, 2.0, 5000.25, 2.0, 5000.25, 4.5, None)
    ((name, (req_id, contract, execution)),) = decode(lib, sv, m.exec_details(-1, ex), caplog)
    assert name == "execDetails" and req_id == -1 and contract.lastTradeDateOrContractMonth == "20261218"
    assert (execution.execId, execution.shares, execution.price, execution.side) == ("0001.01", 2.0, 5000.25, "BOT")
    assert execution.time.timestamp() == 1_735_828_260 and execution.orderRef == "ref:7"
    assert len(m.exec_details(-1, ex)) == 31
    ((name, (report,)),) = decode(lib, sv, m.commission_report(ex), caplog)
    assert name == "commissionReport" and report.commission == 4.5 and report.execId == "0001.01"
    pos = Position("DU1234567", order.instrument, -3.0, 250_012.5)
    ((name, (account, contract, qty, avg)),) = decode(lib, sv, m.position(pos), caplog)
    assert (name, account, qty, avg, contract.multiplier) == ("position", "DU1234567", -3.0, 250_012.5, "50")
    ((name, args),) = decode(lib, sv, m.portfolio_value(pos, 5001.0, 0.0), caplog)
    assert name == "updatePortfolio" and args[1:3] == (-3.0, 5001.0)


@pytest.mark.parametrize("sv", VERSIONS)
def test_contract_and_bar_messages_decode_in_both_clients(lib, sv, caplog):
    for inst in (stock("SPY"), future("ES", "20261218")):
        ((name, (req_id, details)),) = decode(lib, sv, m.contract_data(4, inst, sv), caplog)
        assert name == "contractDetails" and req_id == 4
        assert details.contract.conId == inst.con_id and details.minTick == inst.min_tick
        assert details.timeZoneId == inst.time_zone and details.marketRuleIds == "26"
    bar = Bar(1_735_828_200, 10.0, 11.0, 9.0, 10.5, 300.0, 10.2, 7)
    calls = decode(lib, sv, m.historical_data(5, "a", "b", [("1735828200", bar)]), caplog)
    assert [c[0] for c in calls] == ["historicalData", "historicalDataEnd"]
    hist_bar = calls[0][1][1]
    assert (hist_bar.open, hist_bar.high, hist_bar.low, hist_bar.close, hist_bar.volume, hist_bar.barCount) == (
        10.0, 11.0, 9.0, 10.5, 300.0, 7)
    ((name, (req_id, upd)),) = decode(lib, sv, m.historical_data_update(5, "1735828200", bar), caplog)
    assert (upd.open, upd.high, upd.low, upd.close, upd.volume, upd.average) == (10.0, 11.0, 9.0, 10.5, 300.0, 10.2)
    ((name, args),) = decode(lib, sv, m.realtime_bar(6, bar), caplog)
    assert name == "realtimeBar" and args == (6, 1_735_828_200, 10.0, 11.0, 9.0, 10.5, 300.0, 10.2, 7)


@pytest.mark.parametrize("sv", VERSIONS)
def test_session_and_account_messages_decode_in_both_clients(lib, sv, caplog):
    expected = [
        (m.error(-1, 1100, "lost", sv), "error", (-1, 1100, "lost")),
        (m.next_valid_id(42), "nextValidId", (42,)),
        (m.managed_accounts(["DU1", "DU2"]), "managedAccounts", ("DU1,DU2",)),
        (m.current_time(1_735_828_200), "currentTime", (1_735_828_200,)),
        (m.account_value("NetLiquidation", "1.00", "USD", "DU1"), "updateAccountValue",
         ("NetLiquidation", "1.00", "USD", "DU1")),
        (m.account_summary(3, "DU1", "NetLiquidation", "1.00", "USD"), "accountSummary",
         (3, "DU1", "NetLiquidation", "1.00", "USD")),
        (m.account_update_multi(8, "DU1", "CashBalance", "2.00", "USD"), "accountUpdateMulti",
         (8, "DU1", "", "CashBalance", "2.00", "USD")),
        (m.account_download_end("DU1"), "accountDownloadEnd", ("DU1",)),
        (m.position_end(), "positionEnd", ()),
        (m.open_order_end(), "openOrderEnd", ()),
        (m.completed_orders_end(), "completedOrdersEnd", ()),
        (m.exec_details_end(9), "execDetailsEnd", (9,)),
        (m.contract_data_end(4), "contractDetailsEnd", (4,)),
        (m.account_summary_end(3), "accountSummaryEnd", (3,)),
        (m.account_update_multi_end(8), "accountUpdateMultiEnd", (8,)),
        (m.head_timestamp(2, 1_735_828_200), "headTimestamp", (2, "20250102-14:30:00")),
    ]
    for fields, name, args in expected:
        ((got_name, got_args),) = decode(lib, sv, fields, caplog)
        assert got_name == name and got_args[:len(args)] == args, (name, got_args)
