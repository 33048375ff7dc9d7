"""The live-session harness: cerebro with IBStore / IBData / IBBroker on the fake gateway, a
strategy that runs scripted actions on its live bars and pushes the gateway's next bar after each
one, so every test is deterministic. ``gateway_bars`` / ``gateway_options`` are fixtures that a
test module may import (or override)."""
from __future__ import annotations

import time
from typing import Any, Callable

import backtrader as bt
import pandas as pd
import pytest

from btedge.feeds.sample import sample_data
from btedge.live import IBBroker, IBStore
from btedge.live.config import IBConfig
from btedge.live.session import build_session

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


def live_config(gateway: Any, lib: Any, **overrides: Any) -> IBConfig:
    """The IBConfig the live tests use: the fake's port, client id 11, short backoff."""
    settings = {"port": gateway.port, "client_id": 11, "client": lib.__name__, "timeout": 5.0,
                "backoff": 0.05, "backoff_max": 0.2, "identical_gap": 0.05, **overrides}
    return IBConfig(**settings)


def run_session(gateway: Any, lib: Any, actions: dict[int, Action] | None = None, live_bars: int = 5,
                broker_kw: dict | None = None, data_kw: dict | None = None, config_kw: dict | None = None,
                strategy: type = Scripted, dataname: str | list[str] = "SPY",
                timeframe: int = bt.TimeFrame.Minutes, compression: int = 60,
                **strategy_kw: Any) -> tuple[Any, IBStore, IBBroker]:
    """Run cerebro on the fake until the strategy stops; returns (strategy, store, broker)."""
    config = live_config(gateway, lib, **(config_kw or {}))
    if strategy is Scripted:
        strategy_kw.update(gw=gateway, actions=actions, live_bars=live_bars)
    symbols = [dataname] if isinstance(dataname, str) else list(dataname)
    session = build_session(config, symbols, strategy, strategy_kw, timeframe=timeframe, compression=compression,
                            data_kw={"backfill": 2 * 86_400, "qcheck": 0.01, **(data_kw or {})},
                            broker_kw=broker_kw, stdstats=False, quicknotify=False)
    strat = session.run()
    return strat, session.store, session.broker


@pytest.fixture
def gateway_bars() -> pd.DataFrame:
    return sample_bars()


@pytest.fixture
def gateway_options() -> dict[str, Any]:
    return {"history": HISTORY, "auto_fill": True}


@pytest.fixture
def keep_root_logging() -> Any:
    """btedge-live sets up logging on the test's captured stderr: put the root handlers back after."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
