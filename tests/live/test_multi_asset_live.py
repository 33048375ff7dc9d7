"""Multi-asset strategies live: ``pairs`` (two IBData feeds) and ``dual_momentum`` (three), one
IBBroker, on the fake gateway with both client libraries. Every feed gets every bar once and in
order, the orders fill, and each position the broker holds is the gateway's."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from btedge.strategies import get_strategy
from btedge.testkit.fakegateway import FakeGateway, stock
from tests.support.live_session import keep_root_logging, run_session  # noqa: F401
from tests.support.multi_live import LiveSteps, cointegrated_walks

pytestmark = pytest.mark.usefixtures("time_limit", "keep_root_logging")

HISTORY = 40
LIVE_STEPS = 12


def live(cls: type) -> type:
    """``cls`` pushing the gateway's next step once every feed is LIVE and after each live step
    (:class:`LiveSteps`); records the bars each feed delivered and dual_momentum's rebalances."""

    class Live(LiveSteps, cls):
        params = (("gw", None), ("steps", LIVE_STEPS))

        def start(self) -> None:
            super().start()
            self.seen: dict[str, list[float]] = {d._name: [] for d in self.datas}
            self.rebalance_times: list[tuple[float, bool]] = []  # dual_momentum: (bar time, every feed LIVE)

        def notify_data(self, data: Any, status: int, *args: Any, **kwargs: Any) -> None:
            if not self.started and all(d._laststatus == d.LIVE for d in self.datas):
                self.started = True
                self.p.gw.push_bars(1)

        def next(self) -> None:
            for d in self.datas:
                stamp = d.datetime[0]
                if not self.seen[d._name] or self.seen[d._name][-1] != stamp:
                    self.seen[d._name].append(stamp)
            before = len(getattr(self, "rebalances", ()))
            super().next()
            if len(getattr(self, "rebalances", ())) > before:
                self.rebalance_times.append((self.datetime[0], all(d._laststatus == d.LIVE for d in self.datas)))
            self.advance()

        prenext = next

    Live.__name__ = f"Live{cls.__name__}"
    return Live


def gateway(symbols: list[str], skip: int = 0) -> FakeGateway:
    """The walks of :func:`cointegrated_walks`; ``skip`` drops that many of the first history bars (a shorter
    backfill of the same live bars)."""
    bars = cointegrated_walks(symbols, HISTORY + LIVE_STEPS + 5)
    gw = FakeGateway(bars=bars[symbols[0]][skip:], instrument=stock(symbols[0]), history=HISTORY - skip,
                     auto_fill=True)
    for symbol in symbols[1:]:
        gw.server.add_instrument(stock(symbol), bars[symbol][skip:], HISTORY - skip)
    return gw.start()


def check_books(strat: Any, broker: Any, gw: FakeGateway) -> None:
    held = {p.instrument.symbol: p.quantity for p in gw.positions()}
    for data in strat.datas:
        assert broker.getposition(data).size == pytest.approx(held.get(data._name, 0.0)), data._name
    ids = [m.int("orderId") for m in gw.messages("placeOrder")]
    assert len(ids) == len(set(ids))  # no order sent twice
    for name, times in strat.seen.items():
        assert times == sorted(set(times)), f"{name}: bars out of order or repeated"
        assert len(times) >= HISTORY + LIVE_STEPS - 1, name


PAIRS = {"hedge_period": 20, "zperiod": 10, "coint_period": 30, "retest": 5, "pvalue": 1.0, "entry": 0.3,
         "exit": 0.1, "stop": 50.0, "max_hold": 3, "gross": 0.2}


def test_pairs_runs_live_with_two_feeds(ib_lib):
    symbols = ["KO", "PEP"]
    gw = gateway(symbols)
    try:
        strat, _, broker = run_session(gw, ib_lib, strategy=live(get_strategy("pairs")), dataname=symbols,
                                       gw=gw, **PAIRS)
        check_books(strat, broker, gw)
    finally:
        gw.stop()
    assert strat.entries >= 1
    assert {name for name, _ in strat.completed} == set(symbols)  # both legs traded and filled


MOMENTUM = {"lookback": 20, "vol_period": 5, "top": 2, "rebalance": 2, "fraction": 0.5}


def test_dual_momentum_runs_live_with_three_feeds(ib_lib, caplog):
    symbols = ["AAA", "BBB", "CCC"]
    gw = gateway(symbols)
    caplog.set_level(logging.INFO, logger="btedge.strategies.momentum")
    try:
        strat, _, broker = run_session(gw, ib_lib, strategy=live(get_strategy("dual_momentum")), dataname=symbols,
                                       gw=gw, **MOMENTUM)
        check_books(strat, broker, gw)
    finally:
        gw.stop()
    assert len(strat.rebalances) >= 3
    assert strat.completed, "the rebalances on live bars must trade"
    momentum = [r for r in caplog.records if r.name == "btedge.strategies.momentum"]
    # the rebalances on backfill bars were refused by the broker: history, said at INFO, no cash warning
    assert any("refused: decided on a bar that is not live (history)" in r.getMessage() for r in momentum)
    assert [r.getMessage() for r in momentum if r.levelno >= logging.WARNING] == []


def test_dual_momentum_live_rebalances_do_not_move_with_the_backfill(ib_lib):
    """Four history bars fewer (a restart with a shorter backfill) must not move the rebalances
    on the live bars: live, the schedule is anchored to the bar time (``anchor='auto'``)."""
    symbols = ["AAA", "BBB", "CCC"]
    on_live: dict[int, list[float]] = {}
    for skip in (0, 4):  # 4: no multiple of rebalance=3, a bar count would move every rebalance
        gw = gateway(symbols, skip=skip)
        try:
            strat, _, _ = run_session(gw, ib_lib, strategy=live(get_strategy("dual_momentum")), dataname=symbols,
                                      gw=gw, steps=8, **{**MOMENTUM, "rebalance": 3})
        finally:
            gw.stop()
        assert strat.anchor == "time"
        on_live[skip] = [when for when, is_live in strat.rebalance_times if is_live]
    assert len(on_live[0]) >= 2 and on_live[4] == on_live[0], on_live


def test_pairs_through_the_cli(ib_lib, capsys):
    """btedge-live with two --symbol: one status line per bar showing both feeds."""
    import threading

    from btedge import run_live

    symbols = ["KO", "PEP"]
    gw = gateway(symbols)
    done = threading.Event()

    def push() -> None:
        gw.wait_for_subscription("historical", timeout=10.0)
        while not done.wait(0.05) and gw.push_bars(1):
            pass

    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    argv = ["--strategy", "pairs", "--symbol", "KO", "--symbol", "PEP", "--bar", "1h", "--port", str(gw.port),
            "--client-id", "23", "--backfill", "864000", "--max-bars", "3",
            *[a for k, v in PAIRS.items() for a in ("--param", f"{k}={v}")]]
    try:
        code = run_live.main(argv)
    finally:
        done.set()
        pusher.join(2.0)
        gw.stop()
    out = capsys.readouterr().out
    assert code == run_live.EXIT_OK
    lines = [line for line in out.splitlines() if " live" in line and "KO close=" in line and "PEP close=" in line]
    assert len(lines) >= 3
    assert "KO: LIVE" in out and "PEP: LIVE" in out
