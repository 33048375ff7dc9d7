"""A one-hour live session of 5-second bars on 20 symbols, replayed fast through the fake gateway.

cerebro runs 20 IBData feeds (keepUpToDate, 5 s bars), the IBBroker and a strategy that pushes
the gateway's next step (one bar on every symbol) once every feed has delivered the current one.
Checks and prints:

- no lost bars: every feed delivers its backfill plus all 720 live bars, in order, none twice
- memory: RSS (``/proc/self/status``) and ``tracemalloc`` at the first live step and at the end
  (traced once with backtrader's default line history and once with ``exactbars=1``)
- wall time of the live part (first push to last bar; median of repeats; connecting and
  backfilling are excluded) and its ratio to the baseline: a backtest of the
  same 20 x (backfill + 720) bars with ``FrameData`` in one cerebro, timed in the same run

Bars are synthetic random walks (``random_walk_bars``); no real 5-second data is available.

    .venv/bin/python bench/bench_live_session.py [--symbols 20] [--steps 720] [--repeats 3]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import backtrader as bt
import pandas as pd

from btedge.feeds.frame import FrameData
from btedge.live.config import IBConfig
from btedge.live.session import build_session
from btedge.testkit.fakegateway import FakeGateway, random_walk_bars, stock

HISTORY = 60
START = 1_735_828_200
SECONDS = 5


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def scripts(symbols: int, steps: int) -> dict[str, list]:
    return {f"S{i:02d}": random_walk_bars(HISTORY + steps + 2, START, SECONDS, 50.0 + i, 100 + i)
            for i in range(symbols)}


class Stepper(bt.Strategy):
    """Pushes the next gateway step once every feed has delivered the current one."""

    params = (("gw", None), ("steps", 720), ("trace", False))

    def start(self) -> None:
        self.pushed = 0
        self.last: dict[str, float] = {}
        self.out_of_order = 0
        self.mem_start = self.mem_end = (float("nan"), float("nan"))

    def notify_data(self, data: Any, status: int, *args: Any, **kwargs: Any) -> None:
        if status == data.LIVE and self.pushed == 0 and all(d._laststatus == d.LIVE for d in self.datas):
            self.mem_start = (rss_mib(), self._traced())
            self.live_started = time.perf_counter()
            self._push()

    def _traced(self) -> float:
        return tracemalloc.get_traced_memory()[0] / 2**20 if self.p.trace else float("nan")

    def _push(self) -> None:
        self.pushed += 1
        self.p.gw.push_bars(1)

    def next(self) -> None:
        for data in self.datas:
            when = data.datetime[0]
            if when != self.last.get(data._name, -1.0):
                if when < self.last.get(data._name, -1.0):
                    self.out_of_order += 1
                self.last[data._name] = when
        if self.pushed == 0 or any(len(d) < HISTORY + self.pushed for d in self.datas):
            return
        if self.pushed >= self.p.steps:
            self.mem_end = (rss_mib(), self._traced())
            self.live_seconds = time.perf_counter() - self.live_started
            self.env.runstop()
            return
        self._push()


def run_live(symbols: int, steps: int, trace: bool, exactbars: int = 0) -> tuple[float, Stepper, dict[str, int]]:
    bars = scripts(symbols, steps)
    names = list(bars)
    gw = FakeGateway(bars=bars[names[0]], instrument=stock(names[0]), history=HISTORY).start()
    for name in names[1:]:
        gw.add_instrument(stock(name), bars[name], history=HISTORY)
    state = tempfile.TemporaryDirectory()
    session = build_session(IBConfig(port=gw.port, client_id=1, state_dir=Path(state.name), run_name="bench"), names,
                            Stepper, {"gw": gw, "steps": steps, "trace": trace}, timeframe=bt.TimeFrame.Seconds,
                            compression=SECONDS, quicknotify=False,
                            data_kw={"backfill": HISTORY * SECONDS + 60, "qcheck": 0.5})
    feeds = session.datas
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        strat = session.cerebro.run(exactbars=exactbars)[0]
    finally:
        elapsed = time.perf_counter() - started
        if trace:
            tracemalloc.stop()
        session.store.stop()
        gw.stop()
        state.cleanup()
    delivered = {feed._name: feed.stats["delivered"] for feed in feeds}
    dropped = sum(feed.stats["duplicates_dropped"] for feed in feeds)
    return elapsed, strat, {"delivered": delivered, "duplicates_dropped": dropped}


def run_backtest(symbols: int, steps: int) -> float:
    cerebro = bt.Cerebro(stdstats=False)
    for name, bars in scripts(symbols, steps).items():
        frame = pd.DataFrame([(b.open, b.high, b.low, b.close, b.volume) for b in bars[: HISTORY + steps]],
                             columns=["open", "high", "low", "close", "volume"],
                             index=pd.to_datetime([b.time for b in bars[: HISTORY + steps]], unit="s"))
        cerebro.adddata(FrameData(dataname=frame), name=name)
    cerebro.addstrategy(bt.Strategy)
    started = time.perf_counter()
    cerebro.run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--steps", type=int, default=720, help="live 5 s bars per symbol (720 = 1 hour)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # the gateway's shutdown noise
    expected = HISTORY + args.steps
    live_times, back_times = [], []
    for _ in range(args.repeats):
        elapsed, strat, stats = run_live(args.symbols, args.steps, trace=False)
        live_times.append(strat.live_seconds)
        back_times.append(run_backtest(args.symbols, args.steps))
        lost = {k: expected - v for k, v in stats["delivered"].items() if v != expected}
        print(f"run: {elapsed:6.2f} s (live part {strat.live_seconds:5.2f} s)  bars/feed {min(stats['delivered'].values())}..{max(stats['delivered'].values())}"
              f" (expected {expected})  lost/extra {lost or 'none'}  out-of-order {strat.out_of_order}"
              f"  RSS {strat.mem_start[0]:.1f} -> {strat.mem_end[0]:.1f} MiB")
    traced = {bars: run_live(args.symbols, args.steps, trace=True, exactbars=bars)[1] for bars in (0, 1)}
    live, back = statistics.median(live_times), statistics.median(back_times)
    total = args.symbols * args.steps
    print(f"session: {args.symbols} symbols x {args.steps} live 5 s bars ({total} bars) after {HISTORY} backfill bars each")
    print(f"  live part (first push to last bar, fake gateway)  median {live:6.2f} s  = {total / live:7.0f} live bars/s")
    print(f"  baseline backtest    median {back:6.3f} s (same bars, FrameData)")
    print(f"  ratio live / backtest: {live / back:.0f}x")
    lines = args.symbols * 7 * args.steps * 8 / 2**20
    for bars, strat in traced.items():
        print(f"  tracemalloc, exactbars={bars} (separate run): {strat.mem_start[1]:.2f} -> {strat.mem_end[1]:.2f} MiB "
              f"from the first live step to the end")
    print(f"  (backtrader keeps every bar in its lines unless exactbars is set: {lines:.2f} MiB of float64 "
          f"for these bars)")


if __name__ == "__main__":
    main()
