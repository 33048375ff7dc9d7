"""The cockpit's figures: journal row to browser latency and dashboard memory over an
accelerated session, and what the co-pilot gate adds to ``next()``.

1. ``session``: a writer stands in for ``btedge-live`` (the real :class:`Journal` and tape
   writer, 5 symbols, one bar per symbol every ``--every`` seconds: 0.1 s plays an hour of
   5-second bars, 720 bars, in 72 s; a fill every 20 bars). ``btedge-dashboard`` runs on the
   journal with a headless chromium attached (the page refreshes every 2 s, the default). Prints the
   journal-row-to-browser latency (median, worst) for bars and fills and the Streamlit process's
   resident memory (start, peak, end).
2. ``idle`` (not in ``all``): CPU of the Streamlit process and chromium with one page open on an
   idle journal, per ``--watch`` value (the cost of watching for new rows).
3. ``gate``: the same strategy with and without ``copilot_gated`` (``copilot_async=True``, the
   rules advisor in its thread, as live), ``next()`` timed per bar with a pause between bars so
   the advisor keeps up (as live bars are seconds apart); rounds interleaved; medians per
   ``next()`` and the difference (the baseline is the ungated strategy).

    .venv/bin/python bench/bench_dashboard.py [session|gate|idle|all] [--bars 720] [--every 0.1]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

SYMBOLS = ("SPY", "QQQ", "IWM", "TLT", "GLD")
ACCOUNT = "DU1234567"


def _rss_mb(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def session(bars: int, every: float) -> None:
    from btedge.dashboard.probe import LatencyProbe, chromium, start_dashboard, stop
    from btedge.live.journal import ExecutionReport, OrderRecord

    journal, tape, prices, start = _journal_with_history()
    dashboard, url = start_dashboard(journal.path, "--news-url", "")  # default refresh (2 s), 2 charts
    driver = chromium()
    memory: list[tuple[float, float]] = []  # (seconds since the session began, MB)
    print(f"load average at start: {_load()}", flush=True)
    try:
        driver.get(url)
        probe = LatencyProbe(driver, journal.path)
        while "last bar" not in probe.seen.page:
            probe.poll()
            time.sleep(0.1)
        probe.skip_backlog()
        began = time.time()
        memory.append((0.0, _rss_mb(dashboard.pid)))
        next_bar, n = time.time(), 0
        sample_at = time.time()
        while n < bars:
            if time.time() >= next_bar:
                _bar(journal, tape, prices, 120 + n, start)
                if n % 20 == 10:
                    ref = f"btedge:bench:{n}"
                    shares = 10.0 if (n // 20) % 2 == 0 else -10.0
                    journal.add_order(OrderRecord(ref, n, None, 7, ACCOUNT, 1, "SPY", "SPY:STK:SMART:USD",
                                                  "BUY" if shares > 0 else "SELL", 10.0, "MKT", None, None, None,
                                                  "Submitted", 0.0, "bench"))
                    journal.book_execution(ExecutionReport(f"{n:08d}.01", ref, 7, ACCOUNT, n, 1, shares,
                                                           float(prices["close"].iloc[120 + n]), time.time()))
                n += 1
                next_bar += every
            probe.poll()
            time.sleep(min(0.2, every / 20))  # no busy loop: a real-time hour polls for an hour
            if time.time() - sample_at > 2.0:
                memory.append((time.time() - began, _rss_mb(dashboard.pid)))
                sample_at = time.time()
        end = time.time() + 3
        while time.time() < end:
            probe.poll()
            time.sleep(0.05)
        memory.append((time.time() - began, _rss_mb(dashboard.pid)))
    finally:
        driver.quit()
        stop(dashboard)
        journal.close()
        tape.close()
    seen = probe.seen
    print(f"session: {bars} bars x {len(SYMBOLS)} symbols, one bar every {every} s ({bars * every:.0f} s)")
    print(f"  journal row -> browser, bars:  {seen.summary(seen.bars)}")
    print(f"  journal row -> browser, fills: {seen.summary(seen.fills)}")
    if seen.bars:
        ranked = sorted(seen.bars)
        over = sum(v >= 3.0 for v in ranked)
        print(f"  bars: p95 {ranked[int(0.95 * (len(ranked) - 1))]:.2f} s, {over} of {len(ranked)} at 3 s or more")
    mb = [m for _, m in memory]
    print(f"  dashboard RSS (streamlit + children): start {mb[0]:.0f} MB, peak {max(mb):.0f} MB, "
          f"end {mb[-1]:.0f} MB over {len(mb)} samples")
    step = max(1, len(memory) // 12)
    print("  RSS timeline: " + ", ".join(f"{t / 60:.0f} min {m:.0f} MB" for t, m in memory[::step]))
    print(f"load average at end: {_load()}")


def _load() -> str:
    import os

    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def idle(watches: list[str], seconds: float) -> None:
    """CPU of the Streamlit process (with its children) and of chromium with one live page open on
    an idle 5-symbol journal (120 bars, no new rows), per ``--watch`` value, interleaved."""
    import psutil

    from btedge.dashboard.probe import chromium, start_dashboard, stop

    journal, tape, prices, start = _journal_with_history()

    def cpu(pid: int) -> float:
        total = 0.0
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    print(f"load average at start: {_load()}", flush=True)
    for watch in watches:
        dashboard, url = start_dashboard(journal.path, "--news-url", "", "--watch", watch)
        driver = chromium()
        try:
            driver.get(url)
            time.sleep(15)  # first render
            browser = driver.service.process.pid
            a, b = cpu(dashboard.pid), cpu(browser)
            time.sleep(seconds)
            a, b = cpu(dashboard.pid) - a, cpu(browser) - b
        finally:
            driver.quit()
            stop(dashboard)
        print(f"  --watch {watch}: streamlit {100 * a / seconds:.1f}% of a core, chromium {100 * b / seconds:.1f}% "
              f"(refresh 2 s, {seconds:.0f} s)", flush=True)
    journal.close()
    tape.close()
    print(f"load average at end: {_load()}")


def _journal_with_history(bars: int = 120):  # type: ignore[no-untyped-def]
    """A fresh 5-symbol journal and tape in a temporary folder, CONNECTED, with ``bars`` bars of
    history (a backfill); returns ``(journal, tape, prices, start)`` for writing further bars."""
    from btedge.dashboard.tape import TapeWriter, tape_path
    from btedge.feeds import sample_data
    from btedge.live.journal import Journal

    prices = sample_data()
    journal = Journal.open(Path(tempfile.mkdtemp()), ACCOUNT, "bench")
    journal.heartbeat("CONNECTED")
    tape = TapeWriter(tape_path(journal.path))
    start = pd.Timestamp("2024-01-02 14:30", tz="UTC")
    for i in range(bars):
        _bar(journal, tape, prices, i, start)
    return journal, tape, prices, start


def _bar(journal, tape, prices, i, start) -> None:  # type: ignore[no-untyped-def]
    when = start + pd.Timedelta(seconds=5 * i)
    rows = []
    for k, symbol in enumerate(SYMBOLS):
        row = prices.iloc[(i + 97 * k) % len(prices)]
        rows.append((symbol, when.timestamp(), row.open, row.high, row.low, row.close, row.volume,
                     None, None, None, None, 1, time.time()))
    tape.write(rows)
    for symbol in SYMBOLS:
        journal.record_bar(symbol, when.to_pydatetime().astimezone(dt.timezone.utc))


def gate(bars: int, rounds: int, pause: float) -> None:
    import backtrader as bt

    from btedge.copilot.strategy import copilot_gated
    from btedge.feeds import FrameData, sample_data
    from btedge.strategies import LaguerreCross

    def timed(cls: type) -> type:
        class Timed(cls):
            def start(self) -> None:
                super().start()
                self.times: list[float] = []

            def next(self) -> None:
                t = time.perf_counter()
                super().next()
                self.times.append(time.perf_counter() - t)
                time.sleep(pause)  # live bars are seconds apart: the advisor thread keeps up

        return Timed

    data = sample_data().iloc[:bars]
    variants = {"plain": (timed(LaguerreCross), {}),
                "gated": (timed(copilot_gated(LaguerreCross)), {"copilot_async": True})}
    medians: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(rounds):
        for name, (cls, params) in variants.items():
            cerebro = bt.Cerebro(stdstats=False)
            cerebro.adddata(FrameData(dataname=data, timeframe=bt.TimeFrame.Minutes, compression=60))
            cerebro.addstrategy(cls, **params)
            strat = cerebro.run(runonce=False, preload=False)[0]
            medians[name].append(statistics.median(strat.times[120:]) * 1e3)
            print(f"  round {r} {name}: median next() {medians[name][-1]:.3f} ms, p99 "
                  f"{sorted(strat.times[120:])[int(0.99 * (len(strat.times) - 120))] * 1e3:.3f} ms")
    from btedge.copilot.rules import RulesAdvisor
    from btedge.copilot.worker import AdvisorWorker, Request

    worker = AdvisorWorker(RulesAdvisor(), None, 60, None, draw=False, inline=True)
    requests = [Request.from_frame("BTC", data.iloc[i:i + 160]) for i in range(0, 300, 3)]
    t = time.process_time()
    for request in requests:
        worker._handle(request)
    print(f"  advisor thread: {(time.process_time() - t) / len(requests) * 1e3:.1f} ms of CPU per rules advice "
          f"(frame, indicators, rules; {len(requests)} bars)")
    plain, gated = statistics.median(medians["plain"]), statistics.median(medians["gated"])
    print(f"gate: next() median plain {plain:.3f} ms, gated {gated:.3f} ms, added {gated - plain:.3f} ms "
          f"(ratio {gated / plain:.2f}) over {rounds} interleaved rounds of {bars} bars")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", nargs="?", default="all", choices=("session", "gate", "idle", "all"))
    parser.add_argument("--watch", nargs="+", default=["0.5", "0"], help="idle: --watch values (default 0.5 0)")
    parser.add_argument("--seconds", type=float, default=30.0, help="idle: seconds measured per value (default 30)")
    parser.add_argument("--bars", type=int, default=720, help="session bars per symbol (default 720)")
    parser.add_argument("--every", type=float, default=0.1, help="seconds between session bars (default 0.1)")
    parser.add_argument("--gate-bars", type=int, default=500, help="bars per gate round (default 500)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved gate rounds (default 3)")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between gate bars (default 0.02)")
    args = parser.parse_args(argv)
    if args.what in ("gate", "all"):
        gate(args.gate_bars, args.rounds, args.pause)
    if args.what in ("session", "all"):
        session(args.bars, args.every)
    if args.what == "idle":
        idle(args.watch, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
