"""Pure parts of the fake gateway: bar loading and arithmetic, contract matching, the fill engine, the ledger."""
from __future__ import annotations

import pytest

from btedge.testkit.fakegateway import Bar, BarDataError, BarScript, forex, future, load_bars, stock
from btedge.testkit.fakegateway.bars import aggregate, bar_size_seconds, duration_seconds, parse_time
from btedge.testkit.fakegateway.orders import (
    Cancelled,
    Filled,
    Ledger,
    OrderBook,
    OrderError,
    OrderUpdate,
    PlaceRequest,
)

T0 = 1_735_828_200


def _request(order_id: int, order_type: str = "MKT", action: str = "BUY", qty: float = 10, lmt=None, aux=None,
             parent_id: int = 0, transmit: bool = True, inst=None) -> PlaceRequest:
    return PlaceRequest(1, order_id, inst or stock("SPY"), action, qty, order_type, lmt, aux,
                        parent_id=parent_id, transmit=transmit)


@pytest.fixture
def book() -> OrderBook:
    return OrderBook(Ledger("DU1", 100_000.0), prices=lambda inst: 100.0, clock=lambda: T0)


def test_csv_errors_name_the_row_and_the_fix(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("datetime,open,high,low,close\n2025-01-02 14:30:00,1,2,0.5,1.5\n2025-01-02 14:31:00,1,x,0.5,1\n")
    with pytest.raises(BarDataError, match=r"line 3, column 'high': 'x' is not a number"):
        load_bars(path)
    path.write_text("datetime,open,high,low,close\n2025-01-02 14:31:00,1,2,0.5,1.5\n2025-01-02 14:30:00,1,2,0.5,1\n")
    with pytest.raises(BarDataError, match="row 2.*sort the bars"):
        load_bars(path)
    path.write_text("when,open,high,low,close\n2025-01-02 14:30:00,1,2,0.5,1.5\n")
    with pytest.raises(BarDataError, match="no time column"):
        load_bars(path)


def test_load_bars_from_a_dataframe_and_tuples():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"open": [1.0, 2.0], "high": [2.0, 3.0], "low": [0.5, 1.5], "close": [1.5, 2.5]},
                         index=pd.to_datetime(["2025-01-02 09:30", "2025-01-02 09:31"]).tz_localize("US/Eastern"))
    bars = load_bars(frame)
    assert [b.time for b in bars] == [T0, T0 + 60] and bars[1].close == 2.5
    assert load_bars([(T0, 1, 2, 0.5, 1.5, 10)])[0].volume == 10
    assert load_bars([{"time": T0, "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": float("nan")}])[0].volume == 0


def test_bar_size_duration_and_aggregation():
    assert bar_size_seconds("5 secs") == 5 and bar_size_seconds("15 mins") == 900 and bar_size_seconds("1 day") == 86400
    assert duration_seconds("3600 S") == 3600 and duration_seconds("2 D") == 172_800
    with pytest.raises(ValueError, match="bar size"):
        bar_size_seconds("fortnight")
    bars = [Bar(T0 + 60 * i, 10 + i, 11 + i, 9 + i, 10.5 + i, 100) for i in range(7)]
    five = aggregate(bars, 300)
    assert [b.time for b in five] == [T0, T0 + 300]
    assert (five[0].open, five[0].high, five[0].low, five[0].close, five[0].volume) == (10, 15, 9, 14.5, 500)


@pytest.mark.parametrize("text", ["20250102 14:30:00 UTC", "20250102-14:30:00", "20250102 09:30:00 US/Eastern",
                                  "20250102  14:30:00", "2025-01-02T14:30:00Z", "1735828200"])
def test_ib_and_iso_time_forms(text):
    assert parse_time(text) == T0


def test_unknown_zone_is_named():
    with pytest.raises(BarDataError, match="unknown time zone 'Mars/Base'"):
        parse_time("20250102 09:30:00 Mars/Base", "endDateTime")


def test_bar_script_history_and_advance():
    script = BarScript([Bar(T0 + 60 * i, 1, 1, 1, 1) for i in range(5)], history=2)
    assert script.now() == T0 + 120 and script.remaining == 3
    assert [b.time for b in script.advance(2)] == [T0 + 120, T0 + 180]
    assert [b.time for b in script.history(end=T0 + 180, duration=120)] == [T0 + 60, T0 + 120]


def test_contract_matching_rules():
    es = future("ES", "20261218")
    assert es.local_symbol == "ESZ6"
    assert es.matches({"symbol": "ES", "secType": "FUT", "lastTradeDateOrContractMonth": "202612", "exchange": "CME"})
    assert not es.matches({"symbol": "ES", "secType": "FUT", "lastTradeDateOrContractMonth": "202703"})
    assert es.matches({"conId": str(es.con_id)})
    eur = forex("EURUSD")
    assert eur.matches({"symbol": "EUR", "secType": "CASH", "currency": "USD", "exchange": "IDEALPRO"})
    assert not eur.matches({"symbol": "EUR", "secType": "CASH", "currency": "JPY"})
    assert stock("SPY").con_id == stock("SPY").con_id != stock("QQQ").con_id
    with pytest.raises(ValueError, match="sec_type='OPT'"):
        stock("SPY").__class__(symbol="SPY", sec_type="OPT")


@pytest.mark.parametrize("order_type, action, lmt, aux, bar, expected", [
    ("MKT", "BUY", None, None, (100, 101, 99, 100.5), 100),
    ("LMT", "BUY", 99.5, None, (100, 101, 99, 100.5), 99.5),
    ("LMT", "BUY", 101.0, None, (100, 101, 99, 100.5), 100),       # marketable: the open
    ("LMT", "SELL", 102.0, None, (100, 101, 99, 100.5), None),     # not touched
    ("STP", "SELL", None, 99.5, (100, 101, 99, 100.5), 99.5),
    ("STP", "SELL", None, 99.5, (98, 99, 97, 98.5), 98),           # gap through the stop: the open
    ("STP", "BUY", None, 102.0, (100, 101, 99, 100.5), None),
    ("STP LMT", "BUY", 100.8, 100.5, (100, 101, 99, 100.5), 100.5),
    ("STP LMT", "BUY", 100.8, 100.5, (101, 102, 100.9, 101.5), None),  # triggered above the limit
])
def test_touch_prices(book, order_type, action, lmt, aux, bar, expected):
    book.place(_request(1, order_type, action, lmt=lmt, aux=aux))
    book.bar_index += 1
    events = book.on_bar(stock("SPY"), Bar(T0, *bar))
    fills = [e.execution.price for e in events if isinstance(e, Filled)]
    assert fills == ([] if expected is None else [expected])


def test_bracket_is_held_until_transmit_and_children_wait_for_the_parent(book):
    assert book.place(_request(1, "LMT", lmt=100.0, transmit=False)) == []
    assert book.place(_request(2, "LMT", "SELL", lmt=105.0, parent_id=1, transmit=False)) == []
    events = book.place(_request(3, "STP", "SELL", aux=95.0, parent_id=1))
    statuses = [(e.order.order_id, e.order.status) for e in events if isinstance(e, OrderUpdate)]
    assert [oid for oid, _ in statuses] == [1, 1, 2, 3]
    assert [o.status for o in book.orders.values()] == ["Submitted", "PreSubmitted", "PreSubmitted"]
    with pytest.raises(ValueError, match="waits for its parent"):
        book.fill(book.find(2))
    book.fill(book.find(1))
    assert book.find(2).status == book.find(3).status == "Submitted"
    events = book.fill(book.find(2), price=105.0)
    assert any(isinstance(e, Cancelled) and e.order.order_id == 3 for e in events)
    assert book.ledger.position("DU1", stock("SPY")).quantity == 0


def test_errors_for_bad_orders(book):
    (err,) = book.place(_request(1, "TRAIL"))
    assert isinstance(err, OrderError) and err.code == 387
    (err,) = book.place(_request(2, "LMT"))
    assert err.code == 110
    (err,) = book.cancel_unknown(1, 99)
    assert err.code == 135


def test_ledger_pnl_cash_and_futures_multiplier():
    ledger = Ledger("DU1", 10_000.0)
    es = future("ES", "20261218")
    assert ledger.apply_fill("DU1", es, 2, 5000.0, 4.5) is None
    assert ledger.position("DU1", es).avg_cost == 250_000.0
    realized = ledger.apply_fill("DU1", es, -2, 5010.0, 4.5)
    assert realized == pytest.approx(2 * 10 * 50 - 4.5)
    assert ledger.cash == pytest.approx(10_000 + 1000 - 9.0)
    values = ledger.account_values(lambda inst: 5010.0)
    assert values["NetLiquidation"] == pytest.approx(ledger.cash) and values["RealizedPnL"] == pytest.approx(991.0)
