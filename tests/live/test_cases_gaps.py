"""Issue 8 cases whose tests elsewhere ran with one client only or with one feed: the ``--live``
prompt interrupted (case 16) and connectivity events with several feeds (case 15), on the fake
gateway with both client libraries."""
from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from typing import Any

import backtrader as bt
import pytest

from btedge import run_live
from btedge.testkit.fakegateway import Bar, FakeGateway, stock
from tests.support.live_session import keep_root_logging, run_session  # noqa: F401

pytestmark = pytest.mark.usefixtures("time_limit")
SYMBOLS = ["AAA", "BBB", "CCC"]
HISTORY, START, HOUR = 40, 1_735_828_200, 3600


# -- case 16: the --live prompt --------------------------------------------------------------------
def live_args(gw: FakeGateway, lib: Any) -> list[str]:
    return ["--strategy", "laguerre_cross", "--symbol", "SPY", "--bar", "1h", "--port", str(gw.port),
            "--client", lib.__name__, "--client-id", "23", "--live"]


@pytest.mark.usefixtures("keep_root_logging")
def test_case16_ctrl_c_at_the_live_prompt_exits_130_and_connects_nothing(fake_gateway, ib_lib, capsys):
    def ask(prompt: str) -> str:
        raise KeyboardInterrupt

    code = run_live.main(live_args(fake_gateway, ib_lib), ask=ask)
    err = capsys.readouterr().err
    assert code == run_live.EXIT_INTERRUPTED == 130
    assert "interrupted" in err and "Traceback" not in err
    assert fake_gateway.messages() == [] and fake_gateway.connected_clients() == []


@pytest.mark.usefixtures("keep_root_logging")
def test_case16_sigterm_at_the_live_prompt_exits_0_and_connects_nothing(fake_gateway, ib_lib, capsys):
    def ask(prompt: str) -> str:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1.0)  # the handler raises here
        return "LIVE"

    code = run_live.main(live_args(fake_gateway, ib_lib), ask=ask)
    err = capsys.readouterr().err
    assert code == run_live.EXIT_OK and "SIGTERM, stopped" in err and "Traceback" not in err
    assert fake_gateway.messages() == [] and fake_gateway.connected_clients() == []


@pytest.mark.usefixtures("keep_root_logging")
def test_case16_a_wrong_answer_at_the_live_prompt_is_a_usage_error_and_connects_nothing(fake_gateway, ib_lib,
                                                                                         capsys):
    code = run_live.main(live_args(fake_gateway, ib_lib), ask=lambda prompt: "yes")
    err = capsys.readouterr().err
    assert code == run_live.EXIT_USAGE and "--live was not confirmed" in err and "Traceback" not in err
    assert fake_gateway.messages() == []


# -- case 15: connectivity events with several feeds ------------------------------------------------
def gateway() -> FakeGateway:
    rng = random.Random(3)
    bars: dict[str, list[Bar]] = {s: [] for s in SYMBOLS}
    for i in range(HISTORY + 12):
        for k, symbol in enumerate(SYMBOLS):
            close = round(100.0 + 10 * k + rng.gauss(0, 1.0), 2)
            bars[symbol].append(Bar(START + i * HOUR, close, close + 0.2, close - 0.2, close, 1000.0))
    gw = FakeGateway(bars=bars[SYMBOLS[0]], instrument=stock(SYMBOLS[0]), history=HISTORY, auto_fill=True)
    for symbol in SYMBOLS[1:]:
        gw.server.add_instrument(stock(symbol), bars[symbol], HISTORY)
    return gw.start()


class Events(bt.Strategy):
    """Once every feed is LIVE: pushes the gateway's next bar after each live step and runs
    ``events[step](self)`` first; records every feed's bar times."""

    params = (("gw", None), ("events", None), ("steps", 6))

    def start(self) -> None:
        self.step, self.started = 0, False
        self.seen: dict[str, list[float]] = {d._name: [] for d in self.datas}
        self.statuses: list[tuple[str, str]] = []

    def notify_data(self, data: Any, status: int, *args: Any, **kwargs: Any) -> None:
        self.statuses.append((data._name, data._getstatusname(status)))
        if not self.started and all(d._laststatus == d.LIVE for d in self.datas):
            self.started = True
            self.p.gw.push_bars(1)

    def next(self) -> None:
        for d in self.datas:
            if not self.seen[d._name] or self.seen[d._name][-1] != d.datetime[0]:
                self.seen[d._name].append(d.datetime[0])
        if not self.started or any(d.haslivedata() for d in self.datas):
            return
        self.step += 1
        if self.step >= self.p.steps:
            self.env.runstop()
            return
        event = (self.p.events or {}).get(self.step)
        if event is not None:
            event(self)
        self.p.gw.push_bars(1)

    prenext = next


def pump(strat: Events, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        strat.broker.store.pump(0.02)


def lost_and_kept(strat: Events) -> None:
    """1100 then 2110 then 1102 (IB lost its connection, TWS kept the data)."""
    for code in (1100, 2110, 1102):
        strat.p.gw.inject_error(code)
        pump(strat, 0.1)


def data_lost_twice(strat: Events) -> None:
    """1100, then 1101 (data lost) twice in a burst."""
    for code in (1100, 1101, 1101):
        strat.p.gw.inject_error(code)
        pump(strat, 0.1)


def historical(gw: FakeGateway) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {s: [] for s in SYMBOLS}
    for message in gw.messages("reqHistoricalData"):
        out[message.get("symbol")].append(message)
    return out


def assert_in_order_no_gap(strat: Events) -> None:
    for name, times in strat.seen.items():
        assert times == sorted(set(times)), f"{name}: bars out of order or repeated"
        gaps = {round((b - a) * 86400) for a, b in zip(times, times[1:])}
        assert gaps == {HOUR}, f"{name}: bars missing: gaps {gaps}"


def test_case15_connectivity_events_with_three_feeds_request_each_history_once(ib_lib, caplog):
    """1100/2110/1102 re-request nothing for any feed; a burst of 1101 resubscribes each feed
    once, from its last bar (a span in seconds, not the 2-day backfill): 6 historical
    requests for 3 feeds, none identical to another, no reconnect, every bar once per feed."""
    caplog.set_level(logging.WARNING, logger="btedge")
    gw = gateway()
    try:
        strat, store, _ = run_session(gw, ib_lib, strategy=Events, dataname=SYMBOLS, gw=gw,
                                      events={1: lost_and_kept, 3: data_lost_twice}, steps=6)
        requests = historical(gw)
    finally:
        gw.stop()
    assert store.reconnects == 0 and strat.step == 6
    for symbol, sent in requests.items():
        assert len(sent) == 2, (symbol, [m.get("durationStr") for m in sent])
        assert sent[0].get("durationStr") == "2 D" and sent[1].get("durationStr").endswith(" S"), symbol
    fields = [m.fields for m in gw.messages("reqHistoricalData")]
    assert len(fields) == len({f[1:] for f in fields})  # no identical request (request ids aside)
    assert {name for name, status in strat.statuses if status == "CONNBROKEN"} == set(SYMBOLS)
    assert all(strat.datas[i]._laststatus == bt.feeds.DataBase.LIVE for i in range(len(SYMBOLS)))
    assert_in_order_no_gap(strat)


# -- case 16: Ctrl-C while connecting ------------------------------------------------------------------
def interrupt_when(predicate: Any, timeout: float = 15.0) -> threading.Thread:
    """Ctrl-C (a real SIGINT, which wakes a blocking select as a terminal's does) once
    ``predicate()`` holds; never after ``timeout``."""
    def run() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.usefixtures("keep_root_logging")
def test_case16_ctrl_c_while_connecting_exits_130_without_a_traceback(fake_gateway, ib_lib, capsys, tmp_path):
    """The client's start-up request goes unanswered (the connect waits for it) and Ctrl-C comes
    then: exit 130, no traceback, nothing sent."""
    fake_gateway.leave_unanswered("reqOpenOrders")
    watcher = interrupt_when(lambda: fake_gateway.messages("reqOpenOrders"))
    args = ["--strategy", "laguerre_cross", "--symbol", "SPY", "--bar", "1h", "--port", str(fake_gateway.port),
            "--client", ib_lib.__name__, "--client-id", "24", "--timeout", "10", "--state-dir", str(tmp_path)]
    try:
        code = run_live.main(args)
    finally:
        watcher.join(20)
    err = capsys.readouterr().err
    assert code == run_live.EXIT_INTERRUPTED, err
    assert "interrupted" in err and "Traceback" not in err
    assert fake_gateway.messages("reqHistoricalData") == []  # it was still connecting
    assert fake_gateway.messages("placeOrder") == []
