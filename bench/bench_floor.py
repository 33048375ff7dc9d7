"""Issue 13's table: seconds and peak RSS of each way to run LaguerreCross on 1,000,000 one-minute
bars, the new paths beside the old ones, medians of interleaved runs.

Rows (Laguerre 0.2/0.8 cross, long only, fractional units, 5 bps commission, 1 bp slippage,
next-bar-open fills; the trade count of every run is printed so they can be checked equal):

- ``floor``: backtrader's bare engine, FrameData feed, an empty strategy
- ``cerebro``: LaguerreCross in cerebro with the engine's broker settings, no analyzers
- ``run_backtest``: :func:`btedge.engine.run_backtest` (Performance + TradeStats analyzers,
  buy-and-hold in closed form), what the CLI runs
- ``run_backtest_old``: the old path: the same plus BuyAndHold through a second cerebro run
- ``vector``: :func:`btedge.vector.engine.vector_backtest` (the same figures)
- ``cli``, ``cli_vector``: ``btedge-backtest --data <csv> --report`` end to end (a fresh
  interpreter reading the CSV), with ``--engine backtrader`` / ``vector``

With ``--old-src DIR`` (a ``src`` folder of an older commit, e.g. from
``git archive 71c3a2c src | tar -x -C /tmp/old``) the rows ``run_backtest@old`` and ``cli@old`` run
that code: the analyzers and the second engine run for buy-and-hold as they were.

Every run is its own process, started by a small wrapper that reports the child's wall time and
peak RSS (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``, kB on Linux); in-process rows time the
run only (data already tiled), CLI rows the whole process. CPU seconds (user + system, of the
timed part in-process, of the whole child for the CLI) are printed beside the wall seconds: on a
shared, loaded machine they are the steadier figure. Rows alternate within each repeat. The
machine may be shared: the load average is printed before and after.

    .venv/bin/python bench/bench_floor.py [--bars 1000000] [--repeats 3] [--rows floor,cerebro,...]
        [--old-src /tmp/old/src --rows run_backtest@old,cli@old]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = ("floor", "cerebro", "run_backtest", "run_backtest_old", "vector", "cli", "cli_vector")
PARAMS = {"integer": False}


def _frame(bars: int):
    from bench_feed import source_bars, tiled

    return tiled(source_bars()[0], bars)


def _child(row: str, bars: int) -> dict:
    import backtrader as bt

    from btedge.engine import BacktestConfig, build_cerebro, make_feed, run_backtest
    from btedge.strategies import BuyAndHold, LaguerreCross

    df = _frame(bars)
    config = BacktestConfig()
    start, cpu = time.perf_counter(), time.process_time()
    if row == "floor":
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(make_feed("BTC", df))
        cerebro.addstrategy(bt.Strategy)
        cerebro.run()
        trades = 0
    elif row == "cerebro":
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(make_feed("BTC", df))
        cerebro.broker.setcash(config.cash)
        cerebro.broker.setcommission(commission=config.commission)
        cerebro.broker.set_slippage_perc(config.slippage, slip_open=True, slip_limit=True, slip_match=True)
        cerebro.addstrategy(LaguerreCross, **PARAMS)
        strat = cerebro.run()[0]
        trades = sum(t.isclosed for t in strat._trades[strat.data][0])  # closed, as TradeStats counts
    elif row in ("run_backtest", "run_backtest_old"):
        old = row == "run_backtest_old"
        result = run_backtest(LaguerreCross, [("BTC", df)], PARAMS, BacktestConfig(benchmark=not old))
        if old:  # the second engine run the closed form replaced
            build_cerebro(BuyAndHold, [("BTC", df)], {"integer": False}, config).run()
        trades = result.trades["trades"]
    elif row == "vector":
        from btedge.vector.engine import vector_backtest

        trades = vector_backtest(LaguerreCross, [("BTC", df)], PARAMS, config).trades["trades"]
    else:
        raise ValueError(row)
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "trades": trades}


#: Runs the command as a child and prints its wall seconds and peak RSS (getrusage of the children:
#: only this one), so each row's RSS is its own process's, whatever ran before it.
_TIMED = """
import resource, subprocess, sys, time
start = time.perf_counter()
rc = subprocess.call(sys.argv[1:])
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"TIME {wall:.3f} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime:.3f}", file=sys.stderr)
sys.exit(rc)
"""


def _measure(row: str, bars: int, csv: Path, out: Path, old_src: str | None = None) -> dict:
    name, _, old = row.partition("@")
    if name.startswith("cli"):
        engine = ["--engine", "vector" if name == "cli_vector" else "backtrader"] if not old else []
        cmd = [sys.executable, "-m", "btedge.run_backtest", "--strategy", "laguerre_cross", "--data", str(csv),
               "--param", "integer=False", *engine, "--report", str(out / f"{name}.html"),
               "--json", str(out / f"{name}.json")]
    else:
        cmd = [sys.executable, __file__, "--child", name, "--bars", str(bars)]
    timed = [sys.executable, "-c", _TIMED, *cmd]
    paths = [str(Path(__file__).parent), *([old_src] if old else []), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    proc = subprocess.run(timed, capture_output=True, text=True, env=env)
    tail = [line for line in proc.stderr.splitlines() if line.startswith("TIME ")]
    if proc.returncode or not tail:
        raise RuntimeError(f"{row} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    wall, rss_kb, cpu = tail[-1].split()[1:]
    if name.startswith("cli"):
        trades = json.loads((out / f"{name}.json").read_text())["trades"]["trades"]
        return {"seconds": float(wall), "cpu": float(cpu), "rss_mb": int(rss_kb) / 1024, "trades": trades}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**result, "rss_mb": int(rss_kb) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--old-src", help="src folder of an older commit, for the @old rows")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.bars)))
        return
    rows = args.rows.split(",")
    print(f"{args.bars:,} one-minute bars tiled from real BTC data; {args.repeats} interleaved repeats; "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        csv = out / "bars.csv"
        if any(r.startswith("cli") for r in rows):
            _frame(args.bars).to_csv(csv, index_label="datetime")
        runs: dict[str, list[dict]] = {r: [] for r in rows}
        for rep in range(args.repeats):
            for row in rows:
                m = _measure(row, args.bars, csv, out, args.old_src)
                runs[row].append(m)
                print(f"  run {rep + 1} {row:17s} {m['seconds']:8.2f} s {m['cpu']:8.2f} s CPU {m['rss_mb']:8.0f} MB  "
                      f"{m['trades']} trades; load {os.getloadavg()[0]:.2f}", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    med = {r: tuple(statistics.median(m[k] for m in v) for k in ("seconds", "cpu", "rss_mb"))
           for r, v in runs.items()}
    print("\n| run | seconds | CPU seconds | peak RSS |\n|---|---|---|---|")
    for row, (sec, cpu, rss) in med.items():
        print(f"| {row} | {sec:.2f} | {cpu:.2f} | {rss:,.0f} MB |")
    if "cerebro" in med:
        base = med["cerebro"]
        for row, target in (("run_backtest", 1.15), ("cli", 1.3), ("vector", None), ("cli_vector", None)):
            if row in med:
                goal = f" (target <= {target})" if target else ""
                print(f"ratio {row} / cerebro without analyzers = {med[row][0] / base[0]:.2f} wall, "
                      f"{med[row][1] / base[1]:.2f} CPU{goal}")
    if "cerebro" in runs:  # paired: each repeat against its own cerebro run (the load may change between repeats)
        for row in ("run_backtest", "cli"):
            if row in runs:
                pairs = [f"{m['seconds'] / c['seconds']:.2f} / {m['cpu'] / c['cpu']:.2f}"
                         for m, c in zip(runs[row], runs["cerebro"])]
                print(f"per repeat, {row} / cerebro (wall / CPU): {', '.join(pairs)}")
    for row in ("run_backtest", "cli"):
        if row in med:
            print(f"peak RSS of {row}: {med[row][2]:,.0f} MB (target <= 800 MB at 1M bars)")


if __name__ == "__main__":
    main()
