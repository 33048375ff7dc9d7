"""Latency from a completed bar reaching the client's socket to the strategy's order leaving it.

The fake gateway runs in a process of its own (as IB Gateway does; in the client's process its
Python would compete with the client's for one GIL and add its own delays to the figures), driven
through ``btedge.testkit.fakegateway.remote``. It stamps ``perf_counter()`` (CLOCK_MONOTONIC, one
clock for every process) right after it wrote the update that completes bar k (the first update
of bar k+1), and the client stamps it when the ``placeOrder`` for bar k is written.

- measured: cerebro + IBStore / IBData / IBBroker (``build_session``, the order journal on, in a
  temporary state dir) + a strategy that trades every live bar
- baseline (same run, same gateway): the raw client, placing the order inside the
  ``BarDataList.updateEvent`` handler (no backtrader, no btedge): the floor the client sets

Prints p50 / p99 per client library (medians over repeats), the ratio to the baseline and the
load average before and after.
Bars are a synthetic 1-minute random walk (``random_walk_bars``): only timing is measured.
Bars are replayed as fast as orders come back, far above IB's 50 messages/s, so the clients'
own request throttle (``client.MaxRequests``) is switched off on both sides; otherwise it, not
the code under test, sets the figures.

    .venv/bin/python bench/bench_live_latency.py [--bars 300] [--repeats 3] [--client ib_async]
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
import statistics
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
from btedge.testkit.fakegateway.remote import SpawnedGateway, spawn_gateway

HISTORY = 50
START = 1_735_828_200


def make_gateway(n_bars: int) -> FakeGateway:
    bars = random_walk_bars(HISTORY + n_bars + 5, START, 60, 100.0, 3)
    return FakeGateway(bars=bars, symbol="SPY", history=HISTORY, auto_fill=True)


def gateway(n_bars: int) -> SpawnedGateway:
    return spawn_gateway(functools.partial(make_gateway, n_bars))


def timed_push(gw: SpawnedGateway) -> float:
    """Push one bar; the gateway process's clock right after the update was written."""
    return gw.control.push_timed()


def stamp_orders(ib: Any, sent: list[float]) -> None:
    """Record when each placeOrder (message id 3) leaves the client."""
    ib.client.MaxRequests = 0  # see the module docstring
    original = ib.client.sendMsg

    def send(msg: str) -> None:
        original(msg)
        if msg.startswith("3\0"):
            sent.append(time.perf_counter())

    ib.client.sendMsg = send


class EveryBar(bt.Strategy):
    """Flips between long 1 and flat on every live bar; pushes the next bar after each."""

    params = (("gw", None), ("n", 100), ("pushed", None))

    def start(self) -> None:
        self.live = 0

    def notify_data(self, data: Any, status: int, *args: Any, **kwargs: Any) -> None:
        if status == data.LIVE and self.live == 0:
            self.p.pushed.append(timed_push(self.p.gw))

    def next(self) -> None:
        if self.data._laststatus != self.data.LIVE:
            return
        self.close() if self.position else self.buy(size=1)
        self.live += 1
        if self.live >= self.p.n:
            self.env.runstop()
            return
        self.p.pushed.append(timed_push(self.p.gw))


def run_btedge(lib: str, n: int) -> np.ndarray:
    gw = gateway(n)
    pushed: list[float] = []
    sent: list[float] = []
    with tempfile.TemporaryDirectory() as state:  # the order journal is on, as in a real session
        config = IBConfig(port=gw.port, client_id=1, client=lib, state_dir=Path(state), run_name="latency")
        session = build_session(config, ["SPY"], EveryBar, {"gw": gw, "n": n, "pushed": pushed},
                                timeframe=bt.TimeFrame.Minutes, compression=1, quicknotify=False,
                                data_kw={"backfill": 86_400, "qcheck": 0.5})
        stamp_orders(session.store.ib, sent)
        try:
            session.run()
        finally:
            gw.stop()
    return latencies(pushed, sent, n)


def run_raw(lib: str, n: int) -> np.ndarray:
    ibi = ib_client(lib)
    gw = gateway(n)
    pushed: list[float] = []
    sent: list[float] = []
    ib = ibi.IB()
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
    try:
        for _ in range(n):
            pushed.append(timed_push(gw))
            count = len(sent)
            while len(sent) == count:
                ib.waitOnUpdate(timeout=0.5)
    finally:
        ib.disconnect()
        gw.stop()
    return latencies(pushed, sent, n)


def latencies(pushed: list[float], sent: list[float], n: int) -> np.ndarray:
    if len(sent) != n or len(pushed) != n:
        raise RuntimeError(f"expected {n} bars and orders, got {len(pushed)} bars and {len(sent)} orders")
    return (np.array(sent) - np.array(pushed)) * 1e6  # microseconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--client", choices=("ib_async", "ib_insync"), action="append")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # the gateway's shutdown noise
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for lib in args.client or ["ib_async", "ib_insync"]:
        rows = {"btedge": [], "raw client": []}
        for _ in range(args.repeats):
            rows["raw client"].append(np.percentile(run_raw(lib, args.bars), [50, 99]))
            rows["btedge"].append(np.percentile(run_btedge(lib, args.bars), [50, 99]))
        med = {k: [statistics.median(r[i] for r in v) for i in (0, 1)] for k, v in rows.items()}
        print(f"{lib}: {args.bars} bars x {args.repeats} repeats, bar on socket -> order on socket (us)")
        for name, (p50, p99) in med.items():
            print(f"  {name:11s} p50 {p50:8.0f}  p99 {p99:8.0f}")
        base, ours = med["raw client"], med["btedge"]
        print(f"  ratio btedge / raw client: p50 {ours[0] / base[0]:.2f}x  p99 {ours[1] / base[1]:.2f}x")
        print(f"  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    main()
