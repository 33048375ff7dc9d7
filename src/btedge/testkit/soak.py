"""A soak run of the live stack: a simulated trading week on the fake gateway, with faults.

Several symbols trade through one live session (IBStore / IBData / IBBroker with its journal),
with the gateway's clock accelerated (a bar is pushed as soon as the strategy has decided on the
last one). A seeded schedule injects the faults a week of IB brings: a gateway restart every
night (refused connections, a dropped socket, ``nextValidId`` rolled back), random drops, partial
fills and rejects. The gateway runs in this process (its own thread); the strategy session runs
in child processes (``python -m btedge.testkit.soak --phase N``), one per segment, that drive the
gateway through :mod:`btedge.testkit.fakegateway.remote`: the process is really restarted twice
(a new interpreter reopens the journal), each time leaving an order per symbol working that fills
while no process runs. The harness's own schedule (random state, counts, the bars seen) passes
from one process to the next in a JSON file. At the end every position and order of the journal
is compared with the gateway's, every gateway execution must be booked once, no order may go out
twice and no bar may reach the strategy as LIVE twice. ``tests/live/test_soak.py`` runs a short
one; ``bench/bench_soak.py`` the full week.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import json
import logging
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import backtrader as bt

from btedge.live.config import IBConfig
from btedge.live.journal import Journal, exec_base
from btedge.live.orders import transition
from btedge.live.risk import RiskGate, RiskLimits
from btedge.live.session import build_session
from btedge.testkit.fakegateway import Bar, FakeGateway, stock
from btedge.testkit.fakegateway.remote import (
    AUTHKEY_ENV,
    GatewayControl,
    authkey_from_env,
    connect_control,
    serve_control,
)

log = logging.getLogger(__name__)

START = 1_735_828_200  # 2025-01-02 14:30 UTC, a US session open
BAR_SECONDS = 300
RESTART_GAP = 2  # bars that happen while no process runs (orders left working fill meanwhile)
_FINAL = {"Filled": "Filled", "Cancelled": "Cancelled", "ApiCancelled": "Cancelled", "Inactive": "Rejected"}


@dataclasses.dataclass(frozen=True)
class SoakSpec:
    """What to simulate. Probabilities are per live step (per symbol for trades)."""

    symbols: tuple[str, ...] = ("AAA", "BBB", "CCC", "DDD", "EEE")
    days: int = 5
    bars_per_day: int = 78
    history: int = 60
    restarts: int = 2
    p_trade: float = 0.15
    p_drop: float = 0.01
    p_reject: float = 0.05
    p_partial: float = 0.1
    quiet_steps: int = 3
    client: str | None = None
    seed: int = 1


@dataclasses.dataclass
class SoakReport:
    """The counts a soak run ends with; ``mismatches`` must be empty."""

    steps: int = 0
    orders: int = 0
    fills: int = 0
    gateway_fills: int = 0
    drops: int = 0
    reconnects: int = 0
    restarts: int = 0
    nights: int = 0
    rejects: int = 0
    partials: int = 0
    live_bars: int = 0
    left_working: int = 0
    processes: int = 0  # strategy processes (pids other than the harness's) that placed orders
    seconds: float = 0.0
    mismatches: list[str] = dataclasses.field(default_factory=list)

    def line(self) -> str:
        return (f"steps={self.steps} orders={self.orders} fills={self.fills} (gateway {self.gateway_fills}) "
                f"drops={self.drops} reconnects={self.reconnects} restarts={self.restarts} nights={self.nights} "
                f"rejects={self.rejects} partials={self.partials} left_working_at_restarts={self.left_working} "
                f"processes={self.processes} "
                f"live_bars={self.live_bars} "
                f"mismatches={len(self.mismatches)} in {self.seconds:.1f} s")


def week_bars(spec: SoakSpec) -> dict[str, list[Bar]]:
    """``days`` sessions of ``bars_per_day`` 5-minute bars (plus history before), one walk per symbol."""
    rng = random.Random(spec.seed)
    total = spec.history + spec.days * spec.bars_per_day + spec.quiet_steps + RESTART_GAP * spec.restarts + 2
    out: dict[str, list[Bar]] = {}
    for k, symbol in enumerate(spec.symbols):
        price, bars = 50.0 + 10 * k, []
        for i in range(total):
            day, slot = divmod(i, spec.bars_per_day)
            when = START + day * 86_400 + slot * BAR_SECONDS
            open_ = round(price, 2)
            close = round(max(1.0, open_ + rng.gauss(0, 0.3)), 2)
            bars.append(Bar(when, open_, max(open_, close) + 0.05, min(open_, close) - 0.05, close, 1000.0))
            price = close
        out[symbol] = bars
    return out


class SoakTrader(bt.Strategy):
    """Lets the :class:`Soak` harness decide on every bar (it owns the schedule)."""

    params = (("harness", None),)

    def notify_data(self, data: Any, status: int, *args: Any, **kwargs: Any) -> None:
        self.p.harness.on_status(self)

    def next(self) -> None:
        self.p.harness.on_bar(self)

    prenext = next


class Soak:
    """Runs one :class:`SoakSpec` against its own fake gateway; :meth:`run` returns the report."""

    def __init__(self, spec: SoakSpec, state_dir: Path) -> None:
        self.spec, self.state_dir = spec, Path(state_dir)
        self.rng = random.Random(spec.seed)
        self.report = SoakReport()
        self.total_steps = spec.days * spec.bars_per_day + spec.quiet_steps
        cuts = [self.total_steps * (i + 1) // (spec.restarts + 1) for i in range(spec.restarts)]
        self.segment_ends = cuts + [self.total_steps]
        self.live_seen: dict[str, list[float]] = collections.defaultdict(list)
        self.all_seen: dict[str, float] = {}
        self.gateway: FakeGateway | None = None  # the parent's gateway (None in a child process)
        self.gw: Any = None  # GatewayControl: the gateway's, or a proxy to it from a child process
        self.segment_end = 0
        self.awaiting: float | None = None  # time of the step pushed last, until every feed has it
        self.run_name = f"soak{spec.seed}"

    # -- the run -----------------------------------------------------------------------------------
    def run(self) -> SoakReport:
        started = time.monotonic()
        bars = week_bars(self.spec)
        first, *rest = self.spec.symbols
        gateway = self.gateway = FakeGateway(bars=bars[first], instrument=stock(first),
                                             history=self.spec.history, auto_fill=True)
        for symbol in rest:
            gateway.server.add_instrument(stock(symbol), bars[symbol], self.spec.history)
        gateway.start()
        self.gw = GatewayControl(gateway)
        address, authkey = serve_control(gateway)
        try:
            for index, end in enumerate(self.segment_ends):
                if index:
                    self.report.restarts += 1
                    self._push_gap()
                self.segment_end = end
                self._run_phase(index, address, authkey)
            self._compare()
        finally:
            gateway.stop()
        self.report.seconds = time.monotonic() - started
        return self.report

    def _run_phase(self, index: int, address: tuple[str, int], authkey: bytes) -> None:
        """One process of the strategy: a child interpreter runs :meth:`_segment` and hands the
        schedule back through the state file."""
        state = self.state_dir / f"soak-phase{index}.json"
        state.write_text(json.dumps(self._state()))
        cmd = [sys.executable, "-m", "btedge.testkit.soak", "--phase", str(index), "--state", str(state),
               "--control", f"{address[0]}:{address[1]}", "--log-level", logging.getLevelName(log.getEffectiveLevel())]
        done = subprocess.run(cmd, env={**os.environ, AUTHKEY_ENV: authkey.hex()}, check=False, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"soak phase {index} (a strategy process) exited with status {done.returncode}")
        self._restore(json.loads(state.read_text()))

    def _state(self) -> dict[str, Any]:
        version, internal, gauss = self.rng.getstate()
        return {"spec": {**dataclasses.asdict(self.spec), "symbols": list(self.spec.symbols)},
                "report": dataclasses.asdict(self.report), "rng": [version, list(internal), gauss],
                "live_seen": self.live_seen, "all_seen": self.all_seen, "awaiting": self.awaiting,
                "segment_end": self.segment_end}

    def _restore(self, state: dict[str, Any]) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.report = SoakReport(**state["report"])
        self.live_seen = collections.defaultdict(list, state["live_seen"])
        self.all_seen = dict(state["all_seen"])
        self.awaiting, self.segment_end = state["awaiting"], state["segment_end"]

    def _segment(self) -> None:
        config = IBConfig(port=self.gw.port(), client_id=31, client=self.spec.client, timeout=5.0, backoff=0.05,
                          backoff_max=0.2, identical_gap=0.0, state_dir=self.state_dir, run_name=self.run_name)
        session = build_session(
            config, self.spec.symbols, SoakTrader, {"harness": self}, timeframe=bt.TimeFrame.Minutes,
            compression=BAR_SECONDS // 60, quicknotify=False,
            data_kw={"backfill": 10 * 86_400, "qcheck": 0.01},
            broker_kw={"risk": RiskGate(RiskLimits(reject_cooldown=0.0)), "commission_wait": 0.5})
        session.run()
        self.report.drops += session.store.drops
        self.report.reconnects += session.store.reconnects

    # -- the schedule (called from the strategy) ---------------------------------------------------
    def on_status(self, strat: bt.Strategy) -> None:
        """Back to LIVE (start, reconnect, restart): go on if the awaited step was backfilled."""
        self._step(strat)

    def on_bar(self, strat: bt.Strategy) -> None:
        for data in strat.datas:
            if len(data):
                self.all_seen[data._name] = max(self.all_seen.get(data._name, 0.0), float(_epoch(data)))
            if data._laststatus == data.LIVE and len(data):
                seen = self.live_seen[data._name]
                stamp = data.datetime[0]
                if not seen or seen[-1] != stamp:
                    seen.append(stamp)
                    self.report.live_bars += 1
        self._step(strat)

    def _step(self, strat: bt.Strategy) -> None:
        """Once every feed is LIVE and has the awaited bar: decide, inject faults, push the next."""
        if not self._all_live(strat) or any(d.haslivedata() for d in strat.datas):
            return
        if self.awaiting is not None and any(not len(d) or _epoch(d) < self.awaiting for d in strat.datas):
            return
        self.report.steps += 1
        if self.report.steps >= self.segment_end:
            if self.segment_end < self.total_steps:
                self._trade(strat, chance=1.0)  # the process stops with these orders working at the gateway
                self.report.left_working += len(strat.broker.open_orders())
            strat.env.runstop()
            return
        if self.report.steps <= self.total_steps - self.spec.quiet_steps:
            self._trade(strat)
        self._faults(strat)
        self._push(strat)

    def _all_live(self, strat: bt.Strategy) -> bool:
        return all(d._laststatus == d.LIVE for d in strat.datas)

    def _push_gap(self) -> None:
        """Bars that happen between two processes: the next one backfills them and must book
        the fills of the orders the last one left working."""
        for _ in range(RESTART_GAP):
            self._push(None)

    def _push(self, strat: bt.Strategy | None) -> None:
        if self.gw.push_bars(1):
            self.awaiting = self.gw.last_bar_time()

    def _trade(self, strat: bt.Strategy, chance: float | None = None) -> None:
        chance = self.spec.p_trade if chance is None else chance
        broker = strat.broker
        busy = {o.data._name for o in broker.open_orders()}
        placed = []
        for data in strat.datas:
            if data._name in busy or self.rng.random() >= chance:
                continue
            target = self.rng.choice((-3, -2, -1, 0, 1, 2, 3))
            order = strat.order_target_size(data, target)
            if order is not None and broker.ib_order(order) is not None:
                placed.append(order)
        for order in placed:
            self._order_fault(strat, order)

    def _order_fault(self, strat: bt.Strategy, order: bt.Order) -> None:
        gw, store = self.gw, strat.broker.store
        order_id = strat.broker.ib_order(order).orderId
        deadline = time.monotonic() + 3.0
        while not gw.has_order(order_id, store.client_id):  # the client may hold the message until its loop runs
            if time.monotonic() > deadline or not store.connected:
                return
            store.pump(0.002)
        draw = self.rng.random()
        if draw < self.spec.p_reject:
            gw.reject(order_id, store.client_id)
            self.report.rejects += 1
        elif draw < self.spec.p_reject + self.spec.p_partial and abs(order.size) >= 2:
            gw.partial_fill(order_id, 1, store.client_id)
            self.report.partials += 1

    def _faults(self, strat: bt.Strategy) -> None:
        gw = self.gw
        if self.report.steps % self.spec.bars_per_day == 0:  # the gateway's nightly restart
            self.report.nights += 1
            if self.report.nights == 1:
                gw.roll_back_next_valid_id(1, notify=False)  # it comes back having lost its ids
            gw.refuse_connections(0.3)
            gw.drop_connections()
        elif self.rng.random() < self.spec.p_drop:
            gw.drop_connections()

    # -- the end: journal against gateway ----------------------------------------------------------
    def _compare(self) -> None:
        gw, report = self.gateway, self.report
        account = gw.config.accounts[0]
        journal = Journal.open(self.state_dir, account, self.run_name)
        try:
            self._compare_positions(journal, report)
            self._compare_orders(journal, report)
            self._compare_fills(journal, report)
            self._check_journal(journal, report)
        finally:
            journal.close()
        for symbol, seen in self.live_seen.items():
            if seen != sorted(set(seen)):
                report.mismatches.append(f"{symbol}: a bar reached the strategy LIVE twice or out of order")

    def _compare_positions(self, journal: Journal, report: SoakReport) -> None:
        held = {p.instrument.symbol: p.quantity for p in self.gateway.positions()}
        ours = {symbol: size for symbol, size, _ in journal.positions().values()}
        for symbol in set(held) | set(ours):
            if abs(held.get(symbol, 0.0) - ours.get(symbol, 0.0)) > 1e-9:
                report.mismatches.append(f"{symbol}: journal position {ours.get(symbol, 0.0):+g}, "
                                         f"gateway {held.get(symbol, 0.0):+g}")

    def _compare_orders(self, journal: Journal, report: SoakReport) -> None:
        gateway = {o.order_ref: o for o in self.gateway.orders() if o.client_id == 31}
        records = journal.orders()
        report.orders = sum(1 for r in records if r.order_id is not None)
        pids = {r.process.split("-")[0] for r in records}
        report.processes = len(pids - {str(os.getpid())})
        for record in records:
            order = gateway.get(record.client_ref)
            if order is None:
                if record.order_id is not None and record.state not in ("Rejected", "Lost") or record.filled:
                    report.mismatches.append(f"{record.client_ref}: {record.state} in the journal, unknown to the gateway")
                continue
            state = _FINAL.get(order.status, "working")
            mine = record.state if record.state in _FINAL.values() else "working"
            if state != mine or abs(order.filled - record.filled) > 1e-9:
                report.mismatches.append(f"{record.client_ref}: journal {record.state} filled {record.filled:g}, "
                                         f"gateway {order.status} filled {order.filled:g}")
        sent = collections.Counter(m.get("orderRef") for m in self.gateway.messages("placeOrder"))
        ids = collections.defaultdict(set)
        for m in self.gateway.messages("placeOrder"):
            ids[m.get("orderRef")].add(m.int("orderId"))
        for ref, count in sent.items():
            if len(ids[ref]) > 1:
                report.mismatches.append(f"{ref}: sent {count} times under {len(ids[ref])} order ids")

    def _compare_fills(self, journal: Journal, report: SoakReport) -> None:
        executions = [e for e in self.gateway.executions() if e.order.client_id == 31]
        report.gateway_fills = len(executions)
        booked = {row["exec_base"]: row for row in journal.executions()}
        report.fills = len(booked)
        for ex in executions:
            base = exec_base(ex.exec_id)[0]
            row = booked.pop(base, None)
            if row is None:
                report.mismatches.append(f"execution {ex.exec_id} ({ex.order.order_ref}) not in the journal")
            elif abs(row["shares"] - ex.shares) > 1e-9 and abs(abs(row["shares"]) - ex.shares) > 1e-9:
                report.mismatches.append(f"execution {ex.exec_id}: journal {row['shares']:g} shares, gateway {ex.shares:g}")
        for base in booked:
            report.mismatches.append(f"journal execution {base} the gateway never made")

    def _check_journal(self, journal: Journal, report: SoakReport) -> None:
        """No gaps: every order's journaled history is a chain of legal moves ending in its state,
        and the last bar journaled per symbol is the last one the strategy saw."""
        for record in journal.orders():
            path = [state for _, state, _ in journal.order_events(record.client_ref)]
            broken = [f"{a}->{b}" for a, b in zip(path, path[1:]) if not transition(a, b).legal]
            if not path or broken or path[-1] != record.state:
                report.mismatches.append(f"{record.client_ref}: journaled history {path} "
                                         f"({'illegal ' + ', '.join(broken) if broken else 'ends elsewhere'}), "
                                         f"state {record.state}")
        for symbol, seen in self.all_seen.items():
            last = journal.last_bar(symbol)
            if last is None or abs(last.timestamp() - seen) > 1e-6:
                report.mismatches.append(f"{symbol}: journal's last bar {last}, the strategy's "
                                         f"{dt.datetime.fromtimestamp(seen, dt.timezone.utc)}")


def _epoch(data: Any) -> float:
    return round((data.datetime[0] - 719163.0) * 86_400.0)


def run_soak(spec: SoakSpec, state_dir: Path) -> SoakReport:
    """Run ``spec``; the report's ``mismatches`` list what disagreed (empty: all agreed)."""
    return Soak(spec, state_dir).run()


def run_phase(argv: list[str] | None = None) -> int:
    """A child process of :meth:`Soak.run`: one segment of the strategy, the gateway driven
    through the parent's control server (authkey in ``$BTEDGE_FAKEGW_AUTHKEY``)."""
    parser = argparse.ArgumentParser(prog="python -m btedge.testkit.soak",
                                     description="one strategy process of a soak run (started by the soak itself)")
    parser.add_argument("--phase", type=int, required=True, help="which process of the run (0, 1, ...)")
    parser.add_argument("--state", type=Path, required=True, help="the JSON state file the parent wrote")
    parser.add_argument("--control", required=True, help="HOST:PORT of the gateway's control server")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format=f"phase {args.phase} %(levelname)s %(name)s: %(message)s")
    state = json.loads(args.state.read_text())
    spec = SoakSpec(**{**state["spec"], "symbols": tuple(state["spec"]["symbols"])})
    soak = Soak(spec, args.state.parent)
    soak._restore(state)
    host, _, port = args.control.rpartition(":")
    soak.gw = connect_control((host, int(port)), authkey_from_env())
    soak._segment()
    args.state.write_text(json.dumps(soak._state()))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_phase())
