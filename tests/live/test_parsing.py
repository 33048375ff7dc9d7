"""btedge.live.parsing: every translation table entry, both client libraries."""
from __future__ import annotations

import datetime as dt

import backtrader as bt
import pytest

from btedge.live import parsing
from btedge.live._ib import client


@pytest.fixture(params=["ib_async", "ib_insync"])
def lib(request):
    return client(request.param)


@pytest.mark.parametrize(
    "exectype, ib_type",
    [(None, "MKT"), (bt.Order.Market, "MKT"), (bt.Order.Limit, "LMT"), (bt.Order.Stop, "STP"),
     (bt.Order.StopLimit, "STP LMT"), (bt.Order.Close, "MOC")],
)
def test_order_types(exectype, ib_type):
    assert parsing.order_type(exectype) == ib_type


@pytest.mark.parametrize("exectype", [bt.Order.StopTrail, bt.Order.StopTrailLimit, bt.Order.Historical])
def test_unsupported_order_type_names_it(exectype):
    with pytest.raises(ValueError, match=bt.Order.ExecTypes[exectype]):
        parsing.order_type(exectype)


def test_every_ib_status_is_mapped():
    expected = {
        "ApiPending": bt.Order.Submitted, "PendingSubmit": bt.Order.Submitted,
        "PreSubmitted": bt.Order.Submitted, "Submitted": bt.Order.Accepted,
        "ApiUpdate": None, "PendingCancel": None, "ApiCancelled": bt.Order.Canceled, "Cancelled": bt.Order.Canceled,
        "Filled": None, "Inactive": bt.Order.Rejected, "ValidationError": None,
    }
    assert {s: parsing.order_status(s) for s in expected} == expected
    with pytest.raises(ValueError, match="Bogus"):
        parsing.order_status("Bogus")


def test_library_statuses_are_all_known(lib):
    statuses = {v for k, v in vars(lib.OrderStatus).items() if k[:1].isupper() and isinstance(v, str)}
    assert statuses <= set(parsing.ORDER_STATUS), statuses - set(parsing.ORDER_STATUS)


def test_time_in_force():
    now = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.timezone.utc)
    assert parsing.time_in_force(None) == ("GTC", "")
    assert parsing.time_in_force(0) == ("DAY", "")
    assert parsing.time_in_force(bt.Order.DAY) == ("DAY", "")
    assert parsing.time_in_force(dt.timedelta(hours=2), now) == ("GTD", "20260302 16:00:00 UTC")
    eastern = dt.timezone(dt.timedelta(hours=-5))
    assert parsing.time_in_force(dt.datetime(2026, 3, 2, 9, 30, tzinfo=eastern)) == ("GTD", "20260302 14:30:00 UTC")
    assert parsing.time_in_force(bt.date2num(dt.datetime(2026, 3, 2, 15))) == ("GTD", "20260302 15:00:00 UTC")
    with pytest.raises(ValueError, match="valid must be"):
        parsing.time_in_force("tomorrow")


@pytest.mark.parametrize(
    "text, expected",
    [("5s", (bt.TimeFrame.Seconds, 5)), ("1min", (bt.TimeFrame.Minutes, 1)),
     ("15 mins", (bt.TimeFrame.Minutes, 15)), ("1h", (bt.TimeFrame.Minutes, 60)),
     ("1d", (bt.TimeFrame.Days, 1))],
)
def test_parse_bar(text, expected):
    assert parsing.parse_bar(text) == expected
    assert parsing.bar_size(*expected)


@pytest.mark.parametrize("text", ["7min", "1 fortnight", "", "min"])
def test_parse_bar_rejects(text):
    with pytest.raises(ValueError, match="bar"):
        parsing.parse_bar(text)


def test_bar_size_and_seconds():
    assert parsing.bar_size(bt.TimeFrame.Minutes, 5) == "5 mins"
    assert parsing.bar_seconds(bt.TimeFrame.Minutes, 5) == 300
    with pytest.raises(ValueError, match="not an IB bar size"):
        parsing.bar_size(bt.TimeFrame.Minutes, 7)
    assert parsing.duration(100) == "100 S"
    assert parsing.duration(5) == "30 S"
    assert parsing.duration(3 * 86_400 + 1) == "4 D"


@pytest.mark.parametrize(
    "text, cls, fields",
    [
        ("SPY", "Stock", dict(symbol="SPY", exchange="SMART", currency="USD")),
        ("spy:STK:ARCA", "Stock", dict(symbol="SPY", exchange="ARCA", currency="USD")),
        ("SAP:STK:IBIS:EUR", "Stock", dict(symbol="SAP", exchange="IBIS", currency="EUR")),
        ("ES:FUT:CME:202612", "Future", dict(symbol="ES", exchange="CME", lastTradeDateOrContractMonth="202612")),
        ("EURUSD:CASH", "Forex", dict(symbol="EUR", currency="USD", exchange="IDEALPRO", secType="CASH")),
        ("BTC:CRYPTO:PAXOS", "Crypto", dict(symbol="BTC", exchange="PAXOS", currency="USD", secType="CRYPTO")),
    ],
)
def test_contracts(lib, text, cls, fields):
    contract = parsing.make_contract(text, lib)
    assert type(contract).__name__ == cls
    assert {k: getattr(contract, k) for k in fields} == fields


@pytest.mark.parametrize("text", ["", "ES:FUT:CME", "ES:FUT:CME:2026", "EURUS:CASH", "BTC:CRYPTO", "X:OPT:Y"])
def test_bad_contracts_list_the_forms(text):
    with pytest.raises(ValueError, match="forms: SYMBOL"):
        parsing.parse_contract(text)


def test_make_order_fields(lib):
    o = parsing.make_order(lib, action="SELL", size=-3, exectype=bt.Order.StopLimit, price=99.0, plimit=98.5)
    assert (o.action, o.totalQuantity, o.orderType, o.auxPrice, o.lmtPrice, o.tif) == ("SELL", 3, "STP LMT", 99.0, 98.5, "GTC")
    o = parsing.make_order(lib, action="BUY", size=1, exectype=bt.Order.Limit, price=10.0, valid=0)
    assert (o.orderType, o.lmtPrice, o.tif) == ("LMT", 10.0, "DAY")
    with pytest.raises(ValueError, match="LMT order needs a finite price"):
        parsing.make_order(lib, action="BUY", size=1, exectype=bt.Order.Limit)


def test_client_shim(monkeypatch):
    import ib_async
    import ib_insync

    monkeypatch.setenv("BTEDGE_IB_CLIENT", "ib_insync")
    assert client() is ib_insync
    assert client("ib_async") is ib_async
    monkeypatch.setenv("BTEDGE_IB_CLIENT", "ibapi")
    with pytest.raises(ValueError, match="BTEDGE_IB_CLIENT must be one of"):
        client()
    monkeypatch.delenv("BTEDGE_IB_CLIENT")
    assert client() is ib_async


def test_client_shim_falls_back_to_ib_insync(monkeypatch):
    import importlib

    import ib_insync

    from btedge.live import _ib

    real = importlib.import_module

    def without_ib_async(name, *args):
        if name == "ib_async":
            raise ImportError("No module named 'ib_async'")
        return real(name, *args)

    monkeypatch.delenv("BTEDGE_IB_CLIENT", raising=False)
    monkeypatch.setattr(_ib.importlib, "import_module", without_ib_async)
    assert client() is ib_insync
    monkeypatch.setattr(_ib.importlib, "import_module", lambda name, *a: (_ for _ in ()).throw(ImportError(name)))
    with pytest.raises(ImportError, match=r"btedge\[live\]"):
        client()
