"""pairs across a process restart on the fake gateway (both clients): the second process starts
holding the spread the first one left. History bars it cannot trade must not make it think a
leg failed, and it must not liquidate that spread at its first live bar for that reason."""
from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from btedge.strategies import get_strategy
from btedge.testkit.fakegateway import Bar, FakeGateway, stock
from tests.support.live_session import run_session

pytestmark = pytest.mark.usefixtures("time_limit")
SYMBOLS = ["KO", "PEP"]
HISTORY, START = 40, 1_735_828_200
HOLDING = {"hedge_period": 20, "zperiod": 10, "coint_period": 30, "retest": 5, "pvalue": 1.0, "entry": 0.3,
           "exit": 0.0, "stop": 50.0, "max_hold": 0, "gross": 0.2}  # the first process ends holding the spread


def gateway(n: int = 60, seed: int = 5) -> FakeGateway:
    """Hourly bars of two cointegrated-ish random walks (a common walk plus each one's noise)."""
    rng = random.Random(seed)
    common, bars = 100.0, {s: [] for s in SYMBOLS}
    for i in range(n):
        common += rng.gauss(0, 0.6)
        for k, symbol in enumerate(SYMBOLS):
            level = common * (1 + 0.3 * k) + rng.gauss(0, 0.8) + 0.05 * k * i
            open_, close = round(level + rng.uniform(-0.2, 0.2), 2), round(level, 2)
            bars[symbol].append(Bar(START + i * 3600, open_, max(open_, close) + 0.1, min(open_, close) - 0.1, close,
                                    1000.0))
    gw = FakeGateway(bars=bars["KO"], instrument=stock("KO"), history=HISTORY, auto_fill=True)
    gw.server.add_instrument(stock("PEP"), bars["PEP"], HISTORY)
    return gw.start()


def live(cls: type) -> type:
    """``cls`` that pushes the gateway's next step once both feeds are LIVE and after each live step."""

    class Live(cls):
        params = (("gw", None), ("steps", 4))

        def start(self) -> None:
            super().start()
            self.steps, self.started = 0, False
            self.completed: list[tuple[str, float]] = []

        def notify_data(self, data: Any, status: int, *args: Any, **kwargs: Any) -> None:
            if not self.started and all(d._laststatus == d.LIVE for d in self.datas):
                self.started = True
                self.p.gw.push_bars(1)

        def notify_order(self, order: Any) -> None:
            super().notify_order(order)
            if order.status == order.Completed:
                self.completed.append((order.data._name, order.executed.size))

        def next(self) -> None:
            super().next()
            if not self.started or any(d.haslivedata() for d in self.datas):
                return
            self.steps += 1
            if self.steps >= self.p.steps:
                self.env.runstop()
            else:
                self.p.gw.push_bars(1)

        prenext = next

    return Live


@pytest.mark.xfail(strict=True, reason="owner of strategies/pairs.py: after a restart pairs does not know the "
                                       "spread it holds (_side=0), and its orders refused on backfill bars "
                                       "('feed not live') mark a leg as failed, so the first live bar closes "
                                       "the held spread (and re-enters): a round trip no rule asked for")
def test_pairs_restart_does_not_liquidate_the_spread_it_holds(ib_lib, caplog):
    gw = gateway()
    try:
        first, _, _ = run_session(gw, ib_lib, strategy=live(get_strategy("pairs")), dataname=SYMBOLS, gw=gw, steps=4,
                                  **HOLDING)
        held = {p.instrument.symbol: p.quantity for p in gw.positions()}
        assert held.get("KO", 0) > 0 > held.get("PEP", 0)  # the premise: a long spread is held
        caplog.clear()
        caplog.set_level(logging.WARNING)
        second, _, _ = run_session(gw, ib_lib, strategy=live(get_strategy("pairs")), dataname=SYMBOLS, gw=gw, steps=2,
                                   **HOLDING)
    finally:
        gw.stop()
    broken = [r.getMessage() for r in caplog.records if "both legs will be flattened" in r.getMessage()]
    assert broken == [], broken[:2]
    assert second.completed[:2] != [("KO", -held["KO"]), ("PEP", -held["PEP"])]
