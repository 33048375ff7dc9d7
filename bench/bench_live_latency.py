"""Latency from a completed bar reaching the client's socket to the strategy's order leaving it.

The fake gateway runs in a process of its own (as IB Gateway does), and paces the run itself,
so nothing of the measurement sits on the client's critical path:

- it writes the update that completes bar k (the first update of bar k+1) and stamps
  ``perf_counter()`` right after (CLOCK_MONOTONIC: one clock for every process);
- when the client's ``placeOrder`` for bar k arrives, it stamps it too, fills the order at once
  (a market order during the session) and writes bar k+1 ``--gap-ms`` later, so every bar
  reaches a client that is idle, as a live bar does (the fill and its journal write happen in
  the gap, as they happen between two real bars);
- the client stamps when the ``placeOrder`` for bar k has been written to its socket.

The first version of this script pushed each bar with a blocking RPC from inside the strategy
and filled orders on the next bar (``auto_fill``): the RPC's reply and the fill's booking sat
between the bar and the order, in both the raw client's and btedge's figures.

- measured: cerebro + IBStore / IBData / IBBroker (``build_session``, the order journal on, in a
  temporary state dir) + a strategy that flips long 1 / flat on every live bar
- baseline (same run, same gateway set-up): the raw client, placing the order inside the
  ``BarDataList.updateEvent`` handler (no backtrader, no btedge): the floor the client sets

Runs are interleaved: each round runs the raw client and btedge with each client library (the
order alternates between rounds). Prints per round p50 / p99 and the load average, then the
medians over rounds, and the overhead btedge - raw client (p50 and p99 differences per round:
less sensitive to the load than either figure alone), and the machine's own noise: the p99 of a
fixed piece of CPU work as long as btedge's p50, started the same way. ``--stages`` adds a breakdown of where
btedge's time goes (perf_counter stamps along the path; they cost a few microseconds each).

Bars are a synthetic 1-minute random walk (``random_walk_bars``): only timing is measured. The
clients' own request throttle (``client.MaxRequests``) is switched off on both sides (orders
come far faster than IB's 50 messages/s).

    .venv/bin/python bench/bench_live_latency.py [--bars 200] [--rounds 5] [--gap-ms 30]
        [--client ib_async] [--stages]
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import backtrader as bt
import numpy as np

from btedge.live._ib import client as ib_client
from btedge.live.config import IBConfig
from btedge.live.session import build_session
from btedge.testkit.fakegateway import FakeGateway, random_walk_bars
from btedge.testkit.fakegateway.protocol import In
from btedge.testkit.fakegateway.remote import GatewayProcess

HISTORY = 50
START = 1_735_828_200
STALL_SECONDS = 5.0  # a bar without an order for this long: the next is pushed anyway (the run then fails)


# -- the gateway process ------------------------------------------------------------------------
def make_gateway(n_bars: int) -> FakeGateway:
    bars = random_walk_bars(HISTORY + n_bars + 5, START, 60, 100.0, 3)
    return FakeGateway(bars=bars, symbol="SPY", history=HISTORY, auto_fill=False)


def _pace(gw: FakeGateway, n: int, gap: float) -> tuple[list[float], list[float]]:
    """Hook the gateway's placeOrder handler: stamp, fill, push the next bar ``gap`` s later.
    Returns the (pushed, received) stamp lists it fills."""
    server = gw.server
    place = server._handlers[In.PLACE_ORDER]
    pushed: list[float] = []
    received: list[float] = []
    timer: list[Any] = [None]

    def push() -> None:
        if len(pushed) >= n:
            return
        server.push_bars(1)
        pushed.append(time.perf_counter())
        timer[0] = asyncio.get_running_loop().call_later(STALL_SECONDS, push)

    def on_place(session: Any, message: Any) -> None:
        now = time.perf_counter()
        place(session, message)
        order = server.book.orders.get((session.client_id or 0, message.int("orderId")))
        if order is not None and order.is_active:
            server.dispatch(server.book.fill(order))
        if len(received) < len(pushed):  # the first order after each bar
            received.append(now)
            if timer[0] is not None:
                timer[0].cancel()
            asyncio.get_running_loop().call_later(gap, push)

    server._handlers[In.PLACE_ORDER] = on_place
    gw.pace_start = lambda: asyncio.get_running_loop().call_later(gap, push)  # type: ignore[attr-defined]
    return pushed, received


def serve(n: int, gap: float, pipe: Any) -> None:
    """Gateway process: serve, pace on 'go', answer 'result', end on 'stop'."""
    logging.basicConfig(level=logging.ERROR)
    gw = make_gateway(n).start()
    pushed, received = gw.call(_pace, gw, n, gap)
    pipe.send(gw.port)
    while True:
        command = pipe.recv()
        if command == "go":
            gw.call(lambda: gw.pace_start())  # type: ignore[attr-defined]
        elif command == "result":  # the last order may still be on its way
            deadline = time.monotonic() + STALL_SECONDS
            while gw.call(lambda: len(received) < len(pushed)) and time.monotonic() < deadline:
                time.sleep(0.01)
            pipe.send(gw.call(lambda: (list(pushed), list(received))))
        else:
            break
    gw.stop()


class PacedGateway(GatewayProcess):
    """The gateway process, seen from the client: ``port``, ``go()``, ``result()``, ``stop()``."""

    def __init__(self, n: int, gap: float) -> None:
        super().__init__(serve, n, gap)
        self.port: int = self.hello

    def go(self) -> None:
        self._pipe.send("go")  # one small write: nothing waits for an answer

    def result(self) -> tuple[list[float], list[float]]:
        self._pipe.send("result")
        return self._pipe.recv()


# -- the client side ----------------------------------------------------------------------------
def is_place_order(frame: bytes) -> bool:
    """A framed client message (4-byte length, then the fields) that is placeOrder (id 3)."""
    return frame[4:6] == b"3\0"


def stamp_orders(ib: Any, sent: list[float]) -> None:
    """Record when each placeOrder is handed to the socket (just before the write: a stamp after
    it would also count the time the writer waits for the CPU once the write woke the gateway)."""
    ib.client.MaxRequests = 0  # see the module docstring
    conn = ib.client.conn
    write = conn.sendMsg

    def send(frame: bytes) -> None:
        if is_place_order(frame):
            sent.append(time.perf_counter())
        write(frame)

    conn.sendMsg = send


class EveryBar(bt.Strategy):
    """Flips between long 1 and flat on every live bar; tells the gateway to start at LIVE."""

    params = (("gw", None), ("n", 100))

    def start(self) -> None:
        self.live = 0
        self.started = False

    def notify_data(self, data: Any, status: int, *args: Any, **kwargs: Any) -> None:
        if status == data.LIVE and not self.started:
            self.started = True
            self.p.gw.go()

    def next(self) -> None:
        if not self.started or self.data._laststatus != self.data.LIVE:
            return
        self.close() if self.position else self.buy(size=1)
        self.live += 1
        if self.live >= self.p.n:
            self.env.runstop()


def run_btedge(lib: str, n: int, gap: float, stages: Stages | None = None) -> dict[str, np.ndarray]:
    gw = PacedGateway(n, gap)
    sent: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as state:  # the order journal is on, as in a real session
            config = IBConfig(port=gw.port, client_id=1, client=lib, state_dir=Path(state), run_name="latency")
            session = build_session(config, ["SPY"], EveryBar, {"gw": gw, "n": n},
                                    timeframe=bt.TimeFrame.Minutes, compression=1, quicknotify=False,
                                    data_kw={"backfill": 86_400})
            stamp_orders(session.store.ib, sent)
            if stages is not None:
                stages.install(session)
            session.run()
        pushed, received = gw.result()
    finally:
        gw.stop()
    return latencies(pushed, received, sent, n)


def run_raw(lib: str, n: int, gap: float) -> dict[str, np.ndarray]:
    ibi = ib_client(lib)
    gw = PacedGateway(n, gap)
    sent: list[float] = []
    ib = ibi.IB()
    try:
        ib.connect("127.0.0.1", gw.port, clientId=2)
        stamp_orders(ib, sent)
        contract = ib.qualifyContracts(ibi.Stock("SPY", "SMART", "USD"))[0]
        bars = ib.reqHistoricalData(contract, "", "1 D", "1 min", "TRADES", False, formatDate=2, keepUpToDate=True)
        side = ["BUY"]

        def on_bar(bars: Any, has_new_bar: bool) -> None:
            if has_new_bar:
                ib.placeOrder(contract, ibi.MarketOrder(side[0], 1))
                side[0] = "SELL" if side[0] == "BUY" else "BUY"

        bars.updateEvent += on_bar
        gw.go()
        deadline = time.monotonic() + n * (gap + 1.0) + 10.0
        while len(sent) < n and time.monotonic() < deadline:
            ib.sleep(0.2)
        ib.sleep(gap)  # let the last order reach the gateway
        pushed, received = gw.result()
    finally:
        ib.disconnect()
        gw.stop()
    return latencies(pushed, received, sent, n)


def latencies(pushed: list[float], received: list[float], sent: list[float], n: int) -> dict[str, np.ndarray]:
    """Microseconds from each bar's write to its order's write (client) and arrival (gateway)."""
    if not (len(pushed) == len(received) == len(sent) == n):
        raise RuntimeError(f"expected {n} bars and orders, got {len(pushed)} bars, {len(sent)} orders sent, "
                           f"{len(received)} received")
    bar = np.array(pushed)
    return {"sent": (np.array(sent) - bar) * 1e6, "received": (np.array(received) - bar) * 1e6}


# -- where btedge's time goes --------------------------------------------------------------------
class Stages:
    """perf_counter stamps along btedge's path, per bar: socket data in (the read that carried
    the bar), IBData queues the bar, the store's pump returns, IBData._load returns it, the
    strategy's next starts, the broker takes the order, the journal has committed it, the
    broker calls the client's placeOrder, the placeOrder bytes are handed to the socket."""

    NAMES = ("socket", "queued", "pumped", "loaded", "broker", "brokered", "next", "submit", "gated", "journaling",
             "journaled", "placing", "sent")

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self.current: dict[str, float] = {}
        self.last_read = 0.0
        self.collections: list[tuple[float, float, int]] = []  # (start, end, generation)
        self._gc_start = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.collections.append((self._gc_start, time.perf_counter(), info["generation"]))

    def collections_in_path(self) -> str:
        """Garbage collections that started between a bar's read and its order's write."""
        hits = [(end - start, gen) for r in self.rows if "socket" in r and "sent" in r
                for start, end, gen in self.collections if r["socket"] <= start <= r["sent"]]
        by_gen = collections.Counter(gen for _, gen in hits)
        took = sum(t for t, _ in hits) * 1e3
        return (f"{len(hits)} garbage collection(s) between a bar and its order (by generation "
                f"{dict(sorted(by_gen.items()))}, {took:.1f} ms in all); {len(self.collections)} in the run")

    def mark(self, name: str) -> None:
        if self.current and name not in self.current:  # a row starts when a bar is queued
            self.current[name] = time.perf_counter()

    def wrap(self, obj: Any, attr: str, before: str | None = None, after: str | None = None) -> None:
        original = getattr(obj, attr)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if before:
                self.mark(before)
            result = original(*args, **kwargs)
            if after and (after != "loaded" or result):
                self.mark(after)
            return result

        setattr(obj, attr, wrapped)

    def install(self, session: Any) -> None:
        ib = session.store.ib
        data, broker, store = session.datas[0], session.broker, session.store
        conn = ib.client.conn
        received = conn.data_received

        def data_received(chunk: bytes) -> None:
            self.last_read = time.perf_counter()
            received(chunk)

        conn.data_received = data_received
        enqueue = data._enqueue

        def queued(bar: Any) -> None:
            enqueue(bar)
            self.current = {"socket": self.last_read, "queued": time.perf_counter()}

        data._enqueue = queued
        self.wrap(store, "pump", after="pumped")
        self.wrap(data, "_load", after="loaded")
        self.wrap(broker, "next", before="broker", after="brokered")
        self.wrap(broker, "_submit", before="submit")
        self.wrap(broker, "_gate", after="gated")
        write = conn.sendMsg  # stamp_orders' wrapper: this stamp comes after its own

        def send(frame: bytes) -> None:
            if is_place_order(frame) and self.current:
                self.mark("sent")
                self.rows.append(self.current)
                self.current = {}
            write(frame)

        conn.sendMsg = send
        self.wrap(ib, "placeOrder", before="placing")
        strategy_next = EveryBar.next

        def next_(strategy: Any) -> None:
            self.mark("next")
            strategy_next(strategy)

        EveryBar.next = next_  # type: ignore[method-assign]
        original_place = broker._place

        def place(*args: Any, **kwargs: Any) -> Any:
            if not getattr(broker.journal, "_stage_hook", False):
                self.wrap(broker.journal, "add_order", before="journaling", after="journaled")
                broker.journal._stage_hook = True
            return original_place(*args, **kwargs)

        broker._place = place

    def table(self) -> list[tuple[str, float, float]]:
        """(stage, median us since the previous stage, p99 us) over complete rows."""
        full = [r for r in self.rows if all(name in r for name in self.NAMES)]
        out = []
        for prev, name in zip(self.NAMES, self.NAMES[1:]):
            steps = np.array([(r[name] - r[prev]) * 1e6 for r in full])
            out.append((f"{prev} -> {name}", float(np.median(steps)), float(np.percentile(steps, 99))))
        total = np.array([(r["sent"] - r["socket"]) * 1e6 for r in full])
        out.append(("socket -> sent", float(np.median(total)), float(np.percentile(total, 99))))
        return out


# -- the machine's own noise ----------------------------------------------------------------------
def _spin(steps: int) -> int:
    total = 0
    for i in range(steps):
        total += i * i
    return total


def _timed_spin(steps: int) -> float:
    start = time.perf_counter()
    _spin(steps)
    return (time.perf_counter() - start) * 1e6


def machine_noise(work_us: float, count: int, gap: float) -> tuple[float, float]:
    """p50 / p99 microseconds of a fixed piece of pure-Python CPU work (calibrated to ``work_us``
    on this machine now), each started after sleeping ``gap`` s as a bar wakes an idle process:
    what the scheduler alone adds to a task of btedge's length."""
    steps = 1000
    while True:
        took = min(_timed_spin(steps) for _ in range(5))  # the least disturbed of five
        if took >= work_us / 4:
            break
        steps *= 2
    steps = max(1, int(steps * work_us / took))
    times = []
    for _ in range(count):
        time.sleep(gap)
        start = time.perf_counter()
        _spin(steps)
        times.append((time.perf_counter() - start) * 1e6)
    return float(np.median(times)), float(np.percentile(times, 99))


# -- the report --------------------------------------------------------------------------------
def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=200, help="live bars (orders) per run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (each: raw and btedge per client)")
    parser.add_argument("--gap-ms", type=float, default=30.0, help="gateway pause between an order and the next bar")
    parser.add_argument("--client", choices=("ib_async", "ib_insync"), action="append")
    parser.add_argument("--stages", action="store_true", help="also time btedge's stages (one extra run per client)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # the gateway's shutdown noise
    libs = args.client or ["ib_async", "ib_insync"]
    gap = args.gap_ms / 1000.0
    print(f"load average before: {load()}  (nice {os.nice(0)}, cpus {sorted(os.sched_getaffinity(0))})")
    print(f"{args.bars} live bars per run, {args.rounds} rounds, gateway gap {args.gap_ms:g} ms; "
          "bar written by the gateway -> placeOrder written by the client, microseconds")
    rows: dict[tuple[str, str], list[np.ndarray]] = collections.defaultdict(list)
    runners = {"raw": run_raw, "btedge": run_btedge}
    for r in range(args.rounds):
        for lib in libs:
            order = ("raw", "btedge") if r % 2 == 0 else ("btedge", "raw")
            for kind in order:
                lat = runners[kind](lib, args.bars, gap)
                q = np.percentile(lat["sent"], [50, 99])
                g = np.percentile(lat["received"], [50, 99])
                rows[(lib, kind)].append(np.concatenate([q, g]))
                print(f"  round {r + 1} {lib:9s} {kind:6s} p50 {q[0]:7.0f} p99 {q[1]:7.0f}   (at the gateway: "
                      f"p50 {g[0]:7.0f} p99 {g[1]:7.0f})   load {load()}", flush=True)
    if args.rounds:
        print("medians over rounds (us)            p50      p99   gateway p50  gateway p99")
    for lib in libs if args.rounds else []:
        for kind in ("raw", "btedge"):
            m = np.median(np.array(rows[(lib, kind)]), axis=0)
            print(f"  {lib:9s} {kind:6s}            {m[0]:8.0f} {m[1]:8.0f}     {m[2]:8.0f}     {m[3]:8.0f}")
        diff = np.array(rows[(lib, "btedge")])[:, :2] - np.array(rows[(lib, "raw")])[:, :2]
        print(f"  {lib:9s} overhead btedge - raw: p50 median {np.median(diff[:, 0]):6.0f} "
              f"(rounds {diff[:, 0].min():.0f}..{diff[:, 0].max():.0f}), p99 median {np.median(diff[:, 1]):6.0f} "
              f"(rounds {diff[:, 1].min():.0f}..{diff[:, 1].max():.0f})")
    if args.rounds:
        work = float(np.median([np.median(np.array(rows[(lib, "btedge")])[:, 0]) for lib in libs]))
        p50, p99 = machine_noise(work, args.bars * 2, gap)
        print(f"machine noise: pure-Python work calibrated to the btedge p50 ({work:.0f} us), {args.bars * 2} "
              f"times after a {args.gap_ms:g} ms sleep: p50 {p50:.0f} p99 {p99:.0f}   load {load()}")
    if args.stages:
        for lib in libs:
            stages = Stages()
            gc.callbacks.append(stages.on_gc)
            try:
                run_btedge(lib, args.bars, gap, stages)
            finally:
                gc.callbacks.remove(stages.on_gc)
            print(f"btedge stages with {lib} ({len(stages.rows)} orders): median / p99 us")
            for name, p50, p99 in stages.table():
                print(f"  {name:22s} {p50:8.0f} {p99:8.0f}")
            print(f"  {stages.collections_in_path()}")
    print(f"load average after: {load()}", flush=True)


if __name__ == "__main__":
    main()
