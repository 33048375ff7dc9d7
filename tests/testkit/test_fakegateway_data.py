"""Contracts and bars through the real clients: qualifyContracts, backfill, keepUpToDate, realtime bars."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from btedge.testkit.fakegateway import FakeGateway, crypto, forex, future, load_bars, random_walk_bars

pytestmark = pytest.mark.usefixtures("time_limit")


def make_bars(n, start=1_735_828_200, seconds=60, price=100.0, seed=7):
    return random_walk_bars(n, start, seconds, price, seed)


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def test_qualify_contracts_of_four_security_types(ib, ib_lib, fake_gateway):
    fake_gateway.add_instrument(future("ES", "20261218"))
    fake_gateway.add_instrument(forex("EURUSD"))
    fake_gateway.add_instrument(crypto("BTC"))
    wanted = [ib_lib.Stock("SPY", "SMART", "USD"), ib_lib.Future("ES", "202612", "CME"),
              ib_lib.Forex("EURUSD"), ib_lib.Crypto("BTC", "PAXOS", "USD")]
    qualified = ib.qualifyContracts(*wanted)
    assert [c.secType for c in qualified] == ["STK", "FUT", "CASH", "CRYPTO"]
    assert all(c.conId > 0 for c in qualified)
    assert qualified[1].lastTradeDateOrContractMonth == "20261218" and qualified[1].multiplier == "50"
    assert qualified[2].localSymbol == "EUR.USD"
    assert qualified[0].primaryExchange == "ARCA"


def test_unknown_contract_gets_error_200(ib, ib_lib, fake_gateway):
    errors = []
    ib.errorEvent += lambda req_id, code, *rest: errors.append(code)
    assert not [c for c in ib.qualifyContracts(ib_lib.Stock("NOPE", "SMART", "USD")) if c]
    assert 200 in errors


def test_historical_backfill_returns_the_scripted_bars(ib, ib_lib, fake_gateway, gateway_bars):
    contract = ib_lib.Stock("SPY", "SMART", "USD")
    bars = ib.reqHistoricalData(contract, "", "1 D", "1 min", "TRADES", useRTH=False, formatDate=2)
    history = gateway_bars[:40]
    assert len(bars) == 41, "40 completed bars and the forming one"
    assert [b.date for b in bars[:40]] == [_utc(b.time) for b in history]
    assert [(b.open, b.high, b.low, b.close, b.volume) for b in bars[:40]] == [
        (b.open, b.high, b.low, b.close, b.volume) for b in history]
    forming = bars[-1]
    assert forming.date == _utc(gateway_bars[40].time)
    assert forming.open == forming.close == gateway_bars[40].open and forming.volume == 0


def test_backfill_with_an_end_time_and_aggregated_bar_size(ib, ib_lib, fake_gateway, gateway_bars):
    end = _utc(gateway_bars[30].time).strftime("%Y%m%d %H:%M:%S UTC")
    bars = ib.reqHistoricalData(ib_lib.Stock("SPY", "SMART", "USD"), end, "1800 S", "5 mins", "TRADES",
                                useRTH=False, formatDate=1)
    assert len(bars) == 6  # 30 one-minute bars before the end, in 5-minute buckets
    first = gateway_bars[0:5]
    assert bars[0].open == first[0].open and bars[0].close == first[-1].close
    assert bars[0].high == max(b.high for b in first) and bars[0].volume == sum(b.volume for b in first)
    assert bars[0].date.tzinfo is not None and bars[0].date.astimezone(timezone.utc) == _utc(first[0].time)


def test_daily_bars_have_date_stamps(ib, ib_lib, fake_gateway, gateway_bars):
    bars = ib.reqHistoricalData(ib_lib.Stock("SPY", "SMART", "USD"), "", "2 D", "1 day", "TRADES",
                                useRTH=False, formatDate=2)
    assert [str(b.date) for b in bars] == ["2025-01-02"]
    assert bars[0].open == gateway_bars[0].open and bars[0].high >= max(b.high for b in gateway_bars[:40])


def test_keep_up_to_date_pushes_new_bars(ib, ib_lib, fake_gateway, gateway_bars):
    contract = ib_lib.Stock("SPY", "SMART", "USD")
    bars = ib.reqHistoricalData(contract, "", "1 D", "1 min", "TRADES", useRTH=False, formatDate=2,
                                keepUpToDate=True)
    completed = []
    bars.updateEvent += lambda bar_list, has_new_bar: completed.append(bar_list[-2]) if has_new_bar else None
    request = fake_gateway.wait_for_message("reqHistoricalData")
    assert (request.get("symbol"), request.get("barSizeSetting"), request.get("durationStr"),
            request.get("whatToShow"), request.int("formatDate"), request.flag("keepUpToDate"),
            request.get("endDateTime")) == ("SPY", "1 min", "1 D", "TRADES", 2, True, "")
    assert fake_gateway.push_bars(3) == 3
    ib.sleep(0.2)
    # Each push finalises bar k and opens bar k+1, so bars 40..42 are now complete.
    got = [(b.date, b.open, b.high, b.low, b.close, b.volume) for b in completed]
    want = [(_utc(b.time), b.open, b.high, b.low, b.close, b.volume) for b in gateway_bars[40:43]]
    assert got == want
    assert bars[-1].date == _utc(gateway_bars[43].time)
    assert ("historical" in [s[1] for s in fake_gateway.subscriptions()])
    ib.cancelHistoricalData(bars)
    ib.sleep(0.1)
    assert not fake_gateway.subscriptions()


def test_realtime_bars_stream_pushed_bars(ib, ib_lib, fake_gateway, gateway_bars):
    live = ib.reqRealTimeBars(ib_lib.Stock("SPY", "SMART", "USD"), 5, "TRADES", useRTH=False)
    fake_gateway.wait_for_subscription("realtime")
    fake_gateway.push_bars(2)
    ib.sleep(0.2)
    assert [(b.time, b.open_, b.close) for b in live] == [
        (_utc(b.time), b.open, b.close) for b in gateway_bars[40:42]]


def test_bars_load_from_csv(tmp_path, ib_lib):
    path = tmp_path / "bars.csv"
    path.write_text("datetime,open,high,low,close,volume\n"
                    "2025-01-02 14:30:00+00:00,10,11,9,10.5,100\n"
                    "2025-01-02 14:31:00+00:00,10.5,12,10,11.5,200\n")
    with FakeGateway(bars=path, symbol="SPY") as gw:
        ib = ib_lib.IB()
        ib.connect("127.0.0.1", gw.port, clientId=2, timeout=5)
        try:
            bars = ib.reqHistoricalData(ib_lib.Stock("SPY", "SMART", "USD"), "", "1 D", "1 min", "TRADES",
                                        useRTH=False, formatDate=2)
            assert [(b.open, b.close, b.volume) for b in bars] == [(10, 10.5, 100), (10.5, 11.5, 200)]
        finally:
            ib.disconnect()
    assert load_bars(path)[1].time == load_bars(path)[0].time + 60


def test_pacing_error_162_reaches_error_event(ib, ib_lib, fake_gateway):
    errors = []
    ib.errorEvent += lambda req_id, code, *rest: errors.append(code)
    fake_gateway.fail_next("historical", 162)
    bars = ib.reqHistoricalData(ib_lib.Stock("SPY", "SMART", "USD"), "", "1 D", "1 min", "TRADES",
                                useRTH=False, formatDate=2)
    assert not bars
    assert 162 in errors


def test_market_data_ticks_follow_pushed_bars(ib, ib_lib, fake_gateway, gateway_bars, wait):
    (spy,) = ib.qualifyContracts(ib_lib.Stock("SPY", "SMART", "USD"))
    ticker = ib.reqMktData(spy, "", False, False)
    wait(lambda: ticker.last == gateway_bars[39].close, what="last price")
    assert ticker.bid < ticker.last < ticker.ask
    fake_gateway.push_bars(1)
    wait(lambda: ticker.last == gateway_bars[40].close, what="last price after a push")


def test_account_summary_has_the_paper_account(ib, fake_gateway):
    rows = {(r.tag, r.currency): r.value for r in ib.accountSummary()}
    assert rows[("NetLiquidation", "USD")] == "1000000.00"
    assert rows[("AccountType", "")] == "INDIVIDUAL"
    assert {r.account for r in ib.accountSummary()} == {"DU1234567"}


def test_push_keeps_instruments_with_different_calendars_in_time_order():
    spy_bars = make_bars(6, seconds=60)
    es_bars = make_bars(3, start=spy_bars[0].time, seconds=120, price=5000.0, seed=3)
    with FakeGateway(bars=spy_bars, symbol="SPY", history=0) as gw:
        gw.add_instrument(future("ES", "20261218"), bars=es_bars, history=0)
        assert gw.push_bars(1) == 2  # both have a bar at the first time
        assert gw.push_bars(1) == 1  # only SPY has one a minute later
        assert (gw.remaining_bars("SPY"), gw.remaining_bars("ES")) == (4, 2)
        assert gw.push_bars(10) == 6 and gw.push_bars(1) == 0


def test_bar_size_finer_than_the_script_is_error_162(ib, ib_lib, fake_gateway):
    errors = []
    ib.errorEvent += lambda req_id, code, message, *rest: errors.append((code, message))
    bars = ib.reqHistoricalData(ib_lib.Stock("SPY", "SMART", "USD"), "", "1 D", "30 secs", "TRADES",
                                useRTH=False, formatDate=2)
    assert not bars
    assert any(code == 162 and "scripted bars are 60 s" in message for code, message in errors)


def test_head_timestamp_is_the_first_scripted_bar(ib, ib_lib, fake_gateway, gateway_bars):
    head = ib.reqHeadTimeStamp(ib_lib.Stock("SPY", "SMART", "USD"), "TRADES", useRTH=False, formatDate=1)
    assert head.replace(tzinfo=timezone.utc).timestamp() == gateway_bars[0].time


def test_without_forming_bar_a_push_appends_the_final_bar(ib, ib_lib, fake_gateway, gateway_bars):
    fake_gateway.configure(forming_bar=False)
    bars = ib.reqHistoricalData(ib_lib.Stock("SPY", "SMART", "USD"), "", "1 D", "1 min", "TRADES",
                                useRTH=False, formatDate=2, keepUpToDate=True)
    assert len(bars) == 40 and bars[-1].close == gateway_bars[39].close
    flags = []
    bars.updateEvent += lambda bar_list, has_new_bar: flags.append((has_new_bar, bar_list[-2].close))
    fake_gateway.push_bars(1)
    ib.sleep(0.1)
    assert flags == [(True, gateway_bars[39].close)] and bars[-1].close == gateway_bars[40].close
