"""IBData against the fake gateway, with both client libraries: stocks, futures, FX and crypto
contracts, real-time 5-second bars aggregated into the feed's bar size, flat memory."""
from __future__ import annotations

import backtrader as bt
import pandas as pd
import pytest

from btedge.testkit.fakegateway import crypto, forex, future, random_walk_bars, stock
from btedge.testkit.fakegateway.bars import aggregate
from tests.support.live_session import (
    HISTORY,
    live_config,
    run_session,
    sample_bars,
)

pytestmark = pytest.mark.usefixtures("time_limit")

CONTRACTS = {
    "SPY": (stock("SPY"), "TRADES", 1.0),
    "ES:FUT:CME:202612": (future("ES", "20261218"), "TRADES", 50.0),
    "EURUSD:CASH": (forex("EURUSD"), "MIDPOINT", 1.0),
    "BTC:CRYPTO:PAXOS": (crypto("BTC"), "AGGTRADES", 1.0),
}


def _buy_one(strat) -> None:
    strat.sent(strat.buy(size=1))


@pytest.mark.parametrize("spec", list(CONTRACTS))
def test_contract_types_backfill_trade_and_value(ib_lib, spec):
    from btedge.testkit.fakegateway import FakeGateway

    instrument, what, multiplier = CONTRACTS[spec]
    with FakeGateway(bars=sample_bars(), instrument=instrument, history=HISTORY, auto_fill=True) as gw:
        strat, _, broker = run_session(gw, ib_lib, actions={0: _buy_one}, live_bars=3, dataname=spec)
        assert gw.messages("reqHistoricalData")[0].get("whatToShow") == what
    assert strat.data.contract.conId == instrument.con_id
    assert len(strat.bars) == HISTORY + 3
    assert strat.statuses_of(strat.orders[0])[-1] == "Completed"
    assert broker.getposition(strat.data).size == 1
    data = strat.data
    assert broker.getvalue([data]) == pytest.approx(data.close[0] * multiplier)


@pytest.fixture
def rt_bars() -> list:
    return random_walk_bars(90, 1_735_828_200, 5, 100.0, 11)  # 5-second bars from a session open


@pytest.mark.parametrize("history", [42, 40])
def test_realtime_bars_aggregate_to_15s(ib_lib, rt_bars, history):
    """5 s real-time bars build 15 s bars equal to IB's own 15 s bars; a bucket the stream joined
    mid-way is not emitted half-built (history=40 starts mid-bucket)."""
    from btedge.testkit.fakegateway import FakeGateway

    with FakeGateway(bars=rt_bars, symbol="SPY", history=history) as gw:
        strat, _, _ = run_session(gw, ib_lib, live_bars=6, timeframe=bt.TimeFrame.Seconds, compression=15,
                                  data_kw={"rtbar": True, "backfill": 3600}, push=3,
                                  first_push=3 if history % 3 == 0 else 3 + (3 - history % 3))
        assert gw.messages("reqRealTimeBars")
    expected = {pd.Timestamp(b.time, unit="s"): b for b in aggregate(rt_bars, 15)}
    got = [(t, close) for t, close, _ in strat.bars]
    times = [t for t, _ in got]
    assert times == sorted(set(times))
    for when, close in got:
        assert close == pytest.approx(expected[when].close)
    assert sum(b[2] == "LIVE" for b in strat.bars) == 6
    step = pd.Timedelta(seconds=15)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps.count(step) >= len(gaps) - 1  # at most the one skipped half-built bucket
    if history % 3:
        assert step * 2 in gaps
    else:
        assert all(g == step for g in gaps)


def test_keep_up_to_date_list_is_trimmed(fake_gateway, ib_lib):
    """The client's bar list is trimmed while streaming, so memory stays flat on long sessions."""
    fake_gateway.configure(auto_fill=False)
    lengths = []
    actions = {i: (lambda s: lengths.append(len(s.data._stream))) for i in range(28)}
    strat, _, _ = run_session(fake_gateway, ib_lib, actions=actions, live_bars=28,
                              data_kw={"backfill": 3 * 86_400})
    assert strat.data.stats["delivered"] == len(strat.bars) == HISTORY + 28
    assert lengths[0] == HISTORY + 2  # history, the first live bar and the forming one
    assert max(lengths) <= 65 and lengths[-1] < HISTORY + 28  # the client's list, trimmed


def test_ibdata_validates_params():
    from btedge.live import IBData, IBStore
    from btedge.live.config import IBConfig

    store = IBStore(IBConfig(port=4002))
    with pytest.raises(ValueError, match="store=IBStore"):
        IBData(dataname="SPY", store=None)
    with pytest.raises(ValueError, match="not an IB bar size"):
        IBData(dataname="SPY", store=store, timeframe=bt.TimeFrame.Minutes, compression=7)
    with pytest.raises(ValueError, match="multiple of 5 s"):
        IBData(dataname="SPY", store=store, timeframe=bt.TimeFrame.Seconds, compression=1, rtbar=True)
    with pytest.raises(ValueError, match="backfill"):
        IBData(dataname="SPY", store=store, backfill=0, timeframe=bt.TimeFrame.Minutes)


def test_daily_bars_from_dates(fake_gateway, ib_lib, gateway_bars):
    """Daily bars come with plain dates (no formatDate=2 epoch): lines at 00:00 UTC of that day,
    the forming day held back until the next day starts."""
    strat, _, _ = run_session(fake_gateway, ib_lib, live_bars=1, timeframe=bt.TimeFrame.Days, compression=1,
                              data_kw={"backfill": 10 * 86_400}, push=24, first_push=24)
    days = [pd.Timestamp("2017-07-01"), pd.Timestamp("2017-07-02"), pd.Timestamp("2017-07-03")]
    assert [t for t, _, _ in strat.bars] == days
    hourly = gateway_bars.loc["2017-07-03"]
    assert strat.bars[-1][1] == pytest.approx(hourly["close"].iloc[-1])
    assert strat.bars[-1][2] == "LIVE"


def test_feed_alone_with_the_backtest_broker(fake_gateway, ib_lib, gateway_bars):
    """IBData connects the store itself when no IBBroker does (paper-trade in backtrader's broker)."""
    from btedge.live import IBData, IBStore

    class Count(bt.Strategy):
        def start(self) -> None:
            self.seen = 0

        def notify_data(self, data, status, *args, **kwargs) -> None:
            if status == data.LIVE:
                fake_gateway.push_bars(1)

        def next(self) -> None:
            self.seen += 1
            if self.data._laststatus == self.data.LIVE:
                if self.seen >= HISTORY + 3:
                    self.env.runstop()
                else:
                    fake_gateway.push_bars(1)

    store = IBStore(live_config(fake_gateway, ib_lib, client_id=14))
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(IBData(dataname="SPY", store=store, timeframe=bt.TimeFrame.Minutes, compression=60,
                           backfill=2 * 86_400, qcheck=0.01))
    cerebro.addstrategy(Count)
    try:
        strat = cerebro.run()[0]
    finally:
        store.stop()
    assert strat.seen == HISTORY + 3 and store.reconnects == 0


def test_bars_with_a_missing_price_are_refused_with_a_warning(ib_lib, caplog):
    """A history bar and a live bar whose close is NaN never reach the strategy; each is named at WARNING."""
    from dataclasses import replace

    from btedge.testkit.fakegateway import FakeGateway
    from btedge.testkit.fakegateway.bars import load_bars

    bars = load_bars(sample_bars())  # Bar objects go to the wire as given: the gateway's fault
    bars[HISTORY - 5] = replace(bars[HISTORY - 5], close=float("nan"))
    bars[HISTORY + 1] = replace(bars[HISTORY + 1], high=float("nan"))
    with caplog.at_level("WARNING", logger="btedge.live.data"):
        with FakeGateway(bars=bars, symbol="SPY", history=HISTORY) as gw:
            strat, _, _ = run_session(gw, ib_lib, live_bars=3, push=2)  # 2 a step: one may be refused
    closes = [bar[1] for bar in strat.bars]
    assert all(c == c for c in closes), "a NaN close reached the strategy"
    assert len(strat.bars) == HISTORY - 1 + 3
    assert strat.data.stats["invalid_bars"] == 2
    refused = [r for r in caplog.records if "missing price" in r.getMessage()]
    assert len(refused) == 2 and "refused" in refused[0].getMessage()
