"""Multi-asset strategies on the fake gateway: cointegrated-ish bar walks and a mixin that steps
a live strategy through the gateway's bars."""
from __future__ import annotations

import random
from typing import Any

from btedge.testkit.fakegateway import Bar
from tests.support.live_session import await_gateway

START = 1_735_828_200


def cointegrated_walks(symbols: list[str], n: int, seed: int = 5) -> dict[str, list[Bar]]:
    """Hourly bars: a common random walk plus each symbol's own noise and drift."""
    rng = random.Random(seed)
    common, out = 100.0, {s: [] for s in symbols}
    for i in range(n):
        common += rng.gauss(0, 0.6)
        for k, symbol in enumerate(symbols):
            level = common * (1 + 0.3 * k) + rng.gauss(0, 0.8) + 0.05 * k * i
            open_, close = round(level + rng.uniform(-0.2, 0.2), 2), round(level, 2)
            out[symbol].append(Bar(START + i * 3600, open_, max(open_, close) + 0.1, min(open_, close) - 0.1, close,
                                   1000.0))
    return out


class LiveSteps:
    """Mixed in before a strategy class (params ``gw`` and ``steps``): records the orders it sends
    and the fills it gets; ``advance()`` after each live step waits until the gateway has every
    order sent on the step (the client may hold one back: its throttle), so the next bar fills
    them, then stops after ``steps`` steps or pushes the gateway's next bar."""

    def start(self) -> None:
        super().start()
        self.steps, self.started = 0, False
        self.completed: list[tuple[str, float]] = []
        self.placed: list[Any] = []

    def buy(self, *args: Any, **kwargs: Any) -> Any:
        return self._placed(super().buy(*args, **kwargs))

    def sell(self, *args: Any, **kwargs: Any) -> Any:
        return self._placed(super().sell(*args, **kwargs))

    def _placed(self, order: Any) -> Any:
        if order is not None and self.broker.ib_order(order) is not None:  # sent to IB, not refused
            self.placed.append(order)
        return order

    def notify_order(self, order: Any) -> None:
        super().notify_order(order)
        if order.status == order.Completed:
            self.completed.append((order.data._name, order.executed.size))

    def advance(self) -> None:
        if not self.started or any(d.haslivedata() for d in self.datas):
            return
        self.steps += 1
        for order in self.placed:
            await_gateway(self.p.gw, self.broker.store, self.broker.ib_order(order).orderId)
        self.placed.clear()
        if self.steps >= self.p.steps:
            self.env.runstop()
        else:
            self.p.gw.push_bars(1)
