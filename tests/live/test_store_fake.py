"""IBStore + IBData against the fake gateway, with both client libraries.

Also the harness the other live test modules import (``run_session``, ``Scripted``): cerebro
with IBStore / IBData / IBBroker on the fake, a strategy that runs scripted actions on its live
bars and pushes the gateway's next bar after each one, so every test is deterministic.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

import backtrader as bt
import pandas as pd
import pytest

from btedge.feeds.sample import sample_data
from btedge.live import IBBroker, IBData, IBStore

pytestmark = pytest.mark.usefixtures("time_limit")

HISTORY = 40
BAR_SECONDS = 3600
Action = Callable[["Scripted"], None]


def sample_bars(n: int = 70) -> pd.DataFrame:
    """The embedded BTC-USD hourly sample (real data), first ``n`` bars."""
    return sample_data().iloc[:n]


class Scripted(bt.Strategy):
    """Runs ``actions[i](self)`` on its i-th live bar and pushes the next gateway bar after each."""

    params = (("gw", None), ("actions", None), ("live_bars", 5), ("push", 1), ("first_push", 1))

    def start(self) -> None:
        self.live = 0
        self.bars: list[tuple[pd.Timestamp, float, str]] = []
        self.statuses: list[str] = []
        self.events: list[tuple[int, str, float, float, float]] = []
        self.orders: list[bt.Order] = []

    def notify_data(self, data: Any, status: int, *args: Any, **kwargs: Any) -> None:
        self.statuses.append(data._getstatusname(status))
        if status == data.LIVE:
            self.p.gw.push_bars(self.p.first_push if self.live == 0 else self.p.push)

    def notify_order(self, order: bt.Order) -> None:
        self.events.append((order.ref, order.getstatusname(), order.executed.size,
                            order.executed.price, order.executed.comm))

    def next(self) -> None:
        status = self.data._getstatusname(self.data._laststatus)
        self.bars.append((pd.Timestamp(self.data.datetime.datetime(0)), self.data.close[0], status))
        if status != "LIVE":
            return
        action = (self.p.actions or {}).get(self.live)
        if action is not None:
            action(self)
        self.live += 1
        if self.live >= self.p.live_bars:
            self.env.runstop()
            return
        self.p.gw.push_bars(self.p.push)

    def ib_id(self, order: bt.Order) -> int:
        return self.broker.ib_order(order).orderId

    def sent(self, *orders: bt.Order) -> None:
        """Record orders and wait until the gateway has the ones that were sent (no race with
        the next pushed bar)."""
        self.orders.extend(orders)
        for order in orders:
            if self.broker.ib_order(order) is not None:
                await_gateway(self.p.gw, self.broker.store, self.ib_id(order))

    def statuses_of(self, order: bt.Order) -> list[str]:
        return [e[1] for e in self.events if e[0] == order.ref]


def await_gateway(gw: Any, store: IBStore, order_id: int, status: str | None = None,
                  timeout: float = 5.0) -> None:
    """Pump the client until the gateway has ``order_id`` (in ``status``): the client may hold a
    message back (its 45 messages/s throttle) until its loop runs again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            gw.wait_for_order(order_id, status=status, timeout=0.0)
            return
        except TimeoutError:
            if time.monotonic() > deadline:
                raise
            store.ib.sleep(0.002)


def run_session(gateway: Any, lib: Any, actions: dict[int, Action] | None = None, live_bars: int = 5,
                broker_kw: dict | None = None, data_kw: dict | None = None, store_kw: dict | None = None,
                strategy: type = Scripted, dataname: str = "SPY", timeframe: int = bt.TimeFrame.Minutes,
                compression: int = 60, **strategy_kw: Any) -> tuple[Any, IBStore, IBBroker]:
    """Run cerebro on the fake until the strategy stops; returns (strategy, store, broker)."""
    store_kw = {"timeout": 5.0, "backoff": 0.05, "backoff_max": 0.2, "reconnect_attempts": 40, **(store_kw or {})}
    store = IBStore(port=gateway.port, client_id=11, client=lib.__name__, **store_kw)
    cerebro = bt.Cerebro(stdstats=False)
    data_kw = {"backfill": 2 * 86_400, "qcheck": 0.01, **(data_kw or {})}
    cerebro.adddata(IBData(dataname=dataname, name=dataname, store=store, timeframe=timeframe,
                           compression=compression, **data_kw))
    broker = IBBroker(store=store, **(broker_kw or {}))
    cerebro.setbroker(broker)
    if strategy is Scripted:
        strategy_kw.update(gw=gateway, actions=actions, live_bars=live_bars)
    cerebro.addstrategy(strategy, **strategy_kw)
    try:
        strat = cerebro.run()[0]
    finally:
        store.stop()
    return strat, store, broker


@pytest.fixture
def gateway_bars() -> pd.DataFrame:
    return sample_bars()


@pytest.fixture
def gateway_options() -> dict[str, Any]:
    return {"history": HISTORY, "auto_fill": True}


def expected_times(df: pd.DataFrame, upto: int) -> list[pd.Timestamp]:
    return [pd.Timestamp(t) for t in df.index[:upto]]  # the sample is naive UTC


def test_connect_backfill_then_live(fake_gateway, ib_lib, gateway_bars):
    strat, store, _ = run_session(fake_gateway, ib_lib, live_bars=4)
    assert strat.statuses[:3] == ["CONNECTED", "DELAYED", "LIVE"]
    times = [b[0] for b in strat.bars]
    assert times == expected_times(gateway_bars, len(times))  # in order, none missing or repeated
    assert len(times) == HISTORY + 4
    assert [b[2] for b in strat.bars].count("LIVE") == 4
    closes = [b[1] for b in strat.bars]
    assert closes == pytest.approx(gateway_bars["close"].iloc[:len(closes)].tolist())
    hist = fake_gateway.messages("reqHistoricalData")
    assert len(hist) == 1 and hist[0].get("formatDate") == "2" and hist[0].flag("keepUpToDate")
    assert store.closed


def test_pacing_error_162_is_retried(fake_gateway, ib_lib, gateway_bars, caplog):
    fake_gateway.fail_next("historical", 162)
    caplog.set_level(logging.WARNING, logger="btedge.live.data")
    strat, _, _ = run_session(fake_gateway, ib_lib, live_bars=2, data_kw={"pacing_wait": 0.05})
    assert "NOTSUBSCRIBED" in strat.statuses and strat.statuses[-1] == "LIVE"
    assert len(fake_gateway.messages("reqHistoricalData")) == 2
    assert "error 162" in caplog.text
    assert [b[0] for b in strat.bars] == expected_times(gateway_bars, HISTORY + 2)


def _drop(strat: Scripted) -> None:
    strat.p.gw.drop_connections()


def test_socket_drop_reconnects_resubscribes_no_gap_no_duplicate(fake_gateway, ib_lib, gateway_bars):
    strat, store, _ = run_session(fake_gateway, ib_lib, actions={1: _drop}, live_bars=5)
    assert store.reconnects == 1
    assert "CONNBROKEN" in strat.statuses
    assert strat.statuses[strat.statuses.index("CONNBROKEN"):] == ["CONNBROKEN", "CONNECTED", "DELAYED", "LIVE"]
    times = [b[0] for b in strat.bars]
    assert times == expected_times(gateway_bars, len(times))
    assert len(fake_gateway.messages("reqHistoricalData")) == 2


def _lose_connectivity(strat: Scripted) -> None:
    strat.p.gw.inject_error(1100)


def test_error_1100_reconnects(fake_gateway, ib_lib, gateway_bars):
    strat, store, _ = run_session(fake_gateway, ib_lib, actions={0: _lose_connectivity}, live_bars=3)
    assert store.reconnects == 1
    times = [b[0] for b in strat.bars]
    assert times == expected_times(gateway_bars, len(times))


def _refuse_then_drop(strat: Scripted) -> None:
    strat.p.gw.refuse_connections(0.4)
    strat.p.gw.drop_connections()


def test_reconnect_backs_off_while_refused(fake_gateway, ib_lib, gateway_bars, caplog):
    caplog.set_level(logging.WARNING, logger="btedge.live.store")
    strat, store, _ = run_session(fake_gateway, ib_lib, actions={0: _refuse_then_drop}, live_bars=3)
    assert store.reconnects == 1
    assert "connect attempt" in caplog.text
    assert [b[0] for b in strat.bars] == expected_times(gateway_bars, len(strat.bars))


def _drop_and_stay_down(strat: Scripted) -> None:
    strat.p.gw.refuse_connections(3.0)
    strat.p.gw.drop_connections()


def test_gives_up_after_reconnect_attempts_and_ends(fake_gateway, ib_lib):
    strat, store, _ = run_session(fake_gateway, ib_lib, actions={0: _drop_and_stay_down}, live_bars=5,
                                  store_kw={"reconnect_attempts": 2})
    assert store.closed and store.reconnects == 0
    assert strat.statuses[-2:] == ["CONNBROKEN", "DISCONNECTED"]
    assert strat.live == 1  # the run ended instead of waiting forever


def test_bad_contract_is_one_clear_error(fake_gateway, ib_lib):
    store = IBStore(port=fake_gateway.port, client_id=12, client=ib_lib.__name__, timeout=5.0)
    store.connect()
    try:
        with pytest.raises(ValueError, match="no unique contract for 'NOPE'"):
            store.qualify("NOPE")
    finally:
        store.stop()


def test_one_connection_per_client_id(fake_gateway, ib_lib):
    first = IBStore(port=fake_gateway.port, client_id=13, client=ib_lib.__name__, timeout=5.0)
    first.connect()
    try:
        with pytest.raises(ValueError, match="share one store"):
            IBStore(port=fake_gateway.port, client_id=13, client=ib_lib.__name__).connect()
    finally:
        first.stop()
    again = IBStore(port=fake_gateway.port, client_id=13, client=ib_lib.__name__, timeout=5.0)
    again.connect()  # free again once the first store stopped
    again.stop()


def test_store_validates_args():
    with pytest.raises(ValueError, match="port"):
        IBStore(port=0)
    with pytest.raises(ValueError, match="backoff"):
        IBStore(backoff=5, backoff_max=1)
