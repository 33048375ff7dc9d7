"""btedge.vector beside vectorbt and backtrader: sweep throughput, one 1M-bar simulation, and a
1,000-configuration sweep with random start offsets and three lookbacks (with DSR and PBO).

Bars: real BTC one-minute bars tiled (bench_feed.tiled). Strategy: LaguerreCross, long only,
fractional units, 5 bps commission, 1 bp slippage, next-bar-open fills.

1. Sweep throughput, same 24-configuration grid and bars (``--sweep-bars``, default 20,000 and
   100,000): btedge's vector sweep (``run_sweep(engine="vector")``, metrics, returns and trade
   returns of every backtest), vectorbt ``Portfolio.from_signals`` on the same Laguerre signals
   (all 24 columns in one call, entries shifted one bar and filled at the open), and backtrader
   (``run_sweep(engine="backtrader", mode="serial")`` on the first ``--bt-configs`` configs; its
   per-minute rate is per backtest, so it extrapolates). Baseline: vectorbt.
2. One 1M-bar simulation: btedge's numba simulator on precomputed signals, and ``run_vector`` end to
   end (signals, simulation, Performance and TradeStats figures), beside vectorbt's
   ``from_signals`` on the same signals. Baseline: vectorbt (target: simulator <= 2x).
3. 1,000 parameter sets × three lookbacks (20k, 40k, 80k bars) at seeded random start offsets on
   100,000 bars: ``run_sweep(engine="vector", mode="local", workers=--workers)``, then
   ``analyse_sweep`` (ranking, DSR of the base window, PBO (CSCV, 16 blocks) of every window,
   trade bootstrap) and the other windows' DSR, all over the 1,000 (target: under a minute on 2
   cores); wall and CPU seconds, the workers' and this process's apart.

vectorbt and backtesting.py are not btedge dependencies; when one is not importable the script
says so and leaves its rows out. To include them with the project's own interpreter and pins
(numpy, pandas, numba unchanged), install them and their missing dependencies, without
dependencies, into a folder only the bench puts on its path::

    .venv/bin/pip install --dry-run -c constraints.txt vectorbt backtesting   # lists what is new
    .venv/bin/pip install --no-deps -c constraints.txt --target .venv/bench-libs vectorbt backtesting <the new ones>
    PYTHONPATH=.venv/bench-libs .venv/bin/python bench/bench_vector.py

Timings are medians of ``--repeats`` runs, interleaved; wall and CPU seconds (the machine may be
shared: CPU seconds are the steadier figure); the load average is printed with each part.

    .venv/bin/python bench/bench_vector.py [--repeats 3] [--workers 2]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd
from bench_feed import source_bars, tiled

from btedge.engine import BacktestConfig
from btedge.strategies import LaguerreCross
from btedge.sweeps.analysis import analyse_sweep, window_matrix
from btedge.sweeps.grid import Window, expand_grid
from btedge.sweeps.runner import run_sweep
from btedge.sweeps.stats import deflated_sharpe_for_grid
from btedge.vector.bars import bars_from_frame
from btedge.vector.engine import run_vector, signals_for, simulate_signals, strategy_params
from btedge.vector.signals import compare_array

try:
    import vectorbt as vbt
except ImportError:  # not a dependency
    vbt = None
try:
    import backtesting
except ImportError:  # not a dependency
    backtesting = None

CONFIG = BacktestConfig(benchmark=False, periods_per_year=525_600)
GRID = {"gamma_fast": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "gamma_slow": [0.65, 0.7, 0.8, 0.9]}
PARAMS = {"integer": False}


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any, float]:
    """(median wall seconds, the last output, median CPU seconds of this process)."""
    times, cpus, out = [], [], None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(times), out, statistics.median(cpus)


def vbt_signals(df: pd.DataFrame, combos: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long-only cross signals of each combo from btedge's filters, shifted to fill at the next open."""
    bars = bars_from_frame(df)
    entries, exits = {}, {}
    for k, c in enumerate(combos):
        side = compare_array(bars.laguerre(c["gamma_fast"]), bars.laguerre(c["gamma_slow"]))
        entries[k], exits[k] = side > 0, side < 0
    shift = lambda d: pd.DataFrame(d, index=df.index).shift(1, fill_value=False)  # noqa: E731
    return shift(entries), shift(exits)


def vbt_run(df: pd.DataFrame, entries: pd.DataFrame, exits: pd.DataFrame) -> Any:
    return vbt.Portfolio.from_signals(
        close=df["close"], entries=entries, exits=exits, price=df["open"], size=0.95, size_type="percent",
        fees=CONFIG.commission, slippage=CONFIG.slippage, init_cash=CONFIG.cash, freq="1min")


_OLD_SWEEP = """
import json, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from bench_feed import source_bars, tiled
from btedge.engine import BacktestConfig
from btedge.strategies import LaguerreCross
from btedge.sweeps.runner import run_sweep
df = tiled(source_bars()[0], int(sys.argv[3]))
grid, fixed = json.loads(sys.argv[4]), json.loads(sys.argv[5])
config = BacktestConfig(benchmark=False, periods_per_year=525_600)
sweep = lambda: run_sweep(LaguerreCross, [("BTC", df)], grid, fixed=fixed, config=config, verify_top=0)
sweep()
start, cpu = time.perf_counter(), time.process_time()
result = sweep()
print(json.dumps([time.perf_counter() - start, time.process_time() - cpu, int(result.runs["n_trades"].sum())]))
"""


def old_sweep(old_src: str, bars: int) -> tuple[float, None, float]:
    """(wall, None, CPU) seconds of the same sweep with another source tree (``--old-src``), in a
    fresh process after one warm-up run there."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run([sys.executable, "-c", _OLD_SWEEP, old_src, str(Path(__file__).parent), str(bars),
                          json.dumps(GRID), json.dumps(PARAMS)], check=True, capture_output=True, text=True)
    wall, cpu, _ = json.loads(out.stdout.strip().splitlines()[-1])
    return wall, None, cpu


def sweep_throughput(base: pd.DataFrame, bars: int, repeats: int, bt_configs: int, old_src: str | None = None) -> None:
    df = tiled(base, bars)
    frames = [("BTC", df)]
    combos = expand_grid(GRID)
    n = len(combos)
    print(f"\n## 1. sweep of {n} laguerre_cross configurations on {bars:,} bars; load average {_load()}")
    sweep = lambda: run_sweep(LaguerreCross, frames, GRID, fixed=PARAMS, config=CONFIG, engine="vector",  # noqa: E731
                              verify_top=0)
    run_sweep(LaguerreCross, frames, {"gamma_fast": [0.1]}, fixed=PARAMS, config=CONFIG, verify_top=0)  # compile
    rows = {}
    if vbt is not None:
        vbt_total = lambda: vbt_run(df, *vbt_signals(df, combos)).stats(silence_warnings=True)  # noqa: E731
        vbt_total()  # compile (numba specialises on the arrays' layout: warm up with the same shapes)
    for _ in range(repeats):  # interleaved
        rows.setdefault("btedge vector sweep (run_sweep, all figures)", []).append(median_time(sweep, 1))
        if old_src:
            rows.setdefault("btedge vector sweep, --old-src", []).append(old_sweep(old_src, bars))
        if vbt is not None:
            rows.setdefault("vectorbt from_signals + signals", []).append(
                median_time(lambda: vbt_run(df, *vbt_signals(df, combos)), 1))
            rows.setdefault("vectorbt from_signals + signals + stats()", []).append(median_time(vbt_total, 1))
    subset = {"gamma_fast": GRID["gamma_fast"][:bt_configs], "gamma_slow": GRID["gamma_slow"][:1]}
    m = len(expand_grid(subset))
    bt_sec, bt_out, bt_cpu = median_time(lambda: run_sweep(LaguerreCross, frames, subset, fixed=PARAMS, config=CONFIG,
                                                   engine="backtrader", mode="serial"), 1)
    vec_out = rows["btedge vector sweep (run_sweep, all figures)"][-1][1]
    trades_vec = vec_out.runs["n_trades"].astype(int).tolist()
    print(f"btedge closed trades per config: {trades_vec[:6]} ...; backtrader on the first {m}: "
          f"{bt_out.runs['n_trades'].astype(int).tolist()}")
    if vbt is not None:
        pf = rows["vectorbt from_signals + signals"][-1][1]
        print(f"vectorbt trades per config (its own rules: no ties kept, its sizing): "
              f"{pf.trades.count().astype(int).tolist()[:6]} ...")
    rates = {}
    for name, runs in rows.items():
        sec, cpu = statistics.median(r[0] for r in runs), statistics.median(r[2] for r in runs)
        rates[name] = (n / sec * 60, n / cpu * 60)
        print(f"  {name:45s} {sec:8.3f} s {cpu:8.3f} s CPU {rates[name][0]:12,.0f} backtests/min "
              f"({rates[name][1]:,.0f} per CPU minute)")
    print(f"  {'backtrader (serial, ' + str(m) + ' configs)':45s} {bt_sec:8.3f} s {bt_cpu:8.3f} s CPU "
          f"{m / bt_sec * 60:12,.0f} backtests/min ({m / bt_cpu * 60:,.0f} per CPU minute)")
    vec = rates["btedge vector sweep (run_sweep, all figures)"]
    for name in ("vectorbt from_signals + signals", "vectorbt from_signals + signals + stats()",
                 "btedge vector sweep, --old-src"):
        if name in rates:
            print(f"ratio btedge vector / {name} throughput = {vec[0] / rates[name][0]:.2f} wall, "
                  f"{vec[1] / rates[name][1]:.2f} CPU" + (" (target >= 1)" if name.startswith("vectorbt") else ""))
    if "vectorbt from_signals + signals" in rows:
        pairs = zip(rows["btedge vector sweep (run_sweep, all figures)"], rows["vectorbt from_signals + signals"])
        print("  per repeat, btedge / vectorbt from_signals throughput (wall / CPU): " + ", ".join(
            f"{v[0] / b[0]:.2f} / {v[2] / b[2]:.2f}" for b, v in pairs))
    print(f"ratio btedge vector / backtrader throughput = {vec[0] / (m / bt_sec * 60):.0f} wall, "
          f"{vec[1] / (m / bt_cpu * 60):.0f} CPU")


def bt_py_run(df: pd.DataFrame, side: np.ndarray) -> Any:
    """backtesting.py on the same long-only cross signals (decided at the close, filled at the next
    open: its default), 0.95 of the equity, the same commission; slippage as its ``spread``."""
    from backtesting import Backtest, Strategy

    class Cross(Strategy):
        def init(self):
            self.side = self.I(lambda: side, name="side", plot=False)

        def next(self):
            s = self.side[-1]
            if s > 0 and not self.position:
                self.buy(size=0.95)
            elif s < 0 and self.position:
                self.position.close()

    data = df.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
    with warnings.catch_warnings():  # one "insufficient margin" warning per refused order: millions,
        warnings.simplefilter("ignore")  # and printing them would be timed as backtesting.py's work
        return Backtest(data, Cross, cash=CONFIG.cash, commission=CONFIG.commission, spread=CONFIG.slippage,
                        finalize_trades=True).run()


def one_million(base: pd.DataFrame, repeats: int, bars_count: int = 1_000_000) -> None:
    df = tiled(base, bars_count)
    print(f"\n## 2. one simulation on {bars_count:,} bars")
    params = strategy_params(LaguerreCross, PARAMS)
    bars = bars_from_frame(df)
    sig = signals_for(LaguerreCross, bars, params)
    sim = lambda: simulate_signals(bars, sig, params, CONFIG)  # noqa: E731
    sim()
    runs: dict[str, Callable[[], Any]] = {
        "btedge simulator (numba, signals given)": sim,
        "btedge run_vector (signals+sim+figures)": lambda: run_vector(LaguerreCross, [("BTC", df)], PARAMS, CONFIG),
    }
    if vbt is not None:
        entries, exits = vbt_signals(df, [{"gamma_fast": 0.2, "gamma_slow": 0.8}])
        vbt_run(df, entries, exits)  # compile
        runs["vectorbt from_signals (signals given)"] = lambda: vbt_run(df, entries, exits)
    if backtesting is not None:
        side = compare_array(bars.laguerre(0.2), bars.laguerre(0.8)).astype(float)
        runs["backtesting.py (signals given, its stats)"] = lambda: bt_py_run(df, side)
    rows: dict[str, list] = {name: [] for name in runs}
    for _ in range(repeats):  # interleaved
        for name, fn in runs.items():
            rows[name].append(median_time(fn, 1))
    counts = [f"btedge: {len(rows['btedge simulator (numba, signals given)'][-1][1][2]) // 2} round trips"]
    if vbt is not None:
        counts.append(f"vectorbt: {int(np.sum(rows['vectorbt from_signals (signals given)'][-1][1].trades.count()))}")
    if backtesting is not None:
        counts.append(f"backtesting.py: {rows['backtesting.py (signals given, its stats)'][-1][1]['# Trades']}")
    print("trades: " + "; ".join(counts))
    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[2] for r in v)) for k, v in rows.items()}
    for name, (sec, cpu) in med.items():
        print(f"  {name:45s} {sec:8.3f} s {cpu:8.3f} s CPU")
    if vbt is not None:
        ours, theirs = med["btedge simulator (numba, signals given)"], med["vectorbt from_signals (signals given)"]
        print(f"ratio btedge simulator / vectorbt from_signals = {ours[0] / theirs[0]:.2f} wall, "
              f"{ours[1] / theirs[1]:.2f} CPU (target <= 2)")
        ours = med["btedge run_vector (signals+sim+figures)"]
        print(f"ratio btedge run_vector / vectorbt from_signals = {ours[0] / theirs[0]:.2f} wall, "
              f"{ours[1] / theirs[1]:.2f} CPU")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _clock() -> tuple[float, float, float]:
    """(wall, this process's CPU, reaped children's CPU) seconds."""
    return time.perf_counter(), time.process_time(), _children_cpu()


def thousand(base: pd.DataFrame, workers: int) -> dict[str, float]:
    """The 1,000-configuration sweep through the product's path: ``run_sweep(engine="vector",
    mode="local")`` (each window's grid split over ``workers`` processes), then ``analyse_sweep``
    (ranking, DSR of the base window, PBO of every window, trade bootstrap) and the DSR of the
    other windows. Returns the phases' seconds."""
    df = tiled(base, 100_000)
    frames = [("BTC", df)]
    grid = {"gamma_fast": list(np.round(np.linspace(0.05, 0.5, 10), 3)),
            "gamma_slow": list(np.round(np.linspace(0.55, 0.95, 10), 3)),
            "stop_loss": [0.0, 0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.03, 0.05]}
    n_sets = len(expand_grid(grid))
    rng = np.random.default_rng(13)
    windows = [Window(k, int(s), int(s) + lb, lb, int(s)) for k, (lb, s) in
               enumerate((lb, rng.integers(0, len(df) - lb + 1)) for lb in (20_000, 40_000, 80_000))]
    print(f"\n## 3. {n_sets} parameter sets × {len(windows)} windows "
          f"({', '.join(f'{w.lookback:,} bars from bar {w.start:,}' for w in windows)}) "
          f"on {len(df):,} bars, {workers} processes; load average {_load()}")
    t0 = _clock()
    result = run_sweep(LaguerreCross, frames, grid, fixed=PARAMS, config=CONFIG, windows=windows, mode="local",
                       workers=workers, verify_top=0)
    t1 = _clock()
    analysis = analyse_sweep(result, n_blocks=16)
    dsr = {0: analysis.dsr, **{w.window_id: deflated_sharpe_for_grid(window_matrix(result, w.window_id))
                               for w in windows[1:]}}
    t2 = _clock()
    runs = result.runs
    for w in windows:
        rows = runs[runs["window_id"] == w.window_id]
        best = rows["sharpe"].idxmax()
        params = {k: rows.at[best, k] for k in grid}
        print(f"  window {w.window_id}: {len(rows)} configs × {w.lookback:,} bars: annualised Sharpe median "
              f"{rows['sharpe'].median():.2f}, best {rows.at[best, 'sharpe']:.3f} ({params}, "
              f"{rows.at[best, 'n_trades']:.0f} trades); DSR {dsr[w.window_id].dsr:.3f} "
              f"(N={dsr[w.window_id].n_trials}), PBO {analysis.pbo_by_window[w.window_id]:.3f}")
    sweep_wall, total_wall = t1[0] - t0[0], t2[0] - t0[0]
    workers_cpu = t1[2] - t0[2]  # the pool has shut down: its processes are reaped
    parent_sweep, parent_stats = t1[1] - t0[1], t2[1] - t1[1]
    print(f"  {len(runs):,} backtests: run_sweep {sweep_wall:.1f} s wall; with analyse_sweep (DSR, PBO of every "
          f"window, ranking, bootstrap) and the other windows' DSR {total_wall:.1f} s wall (target < 60 s on 2 "
          f"cores); CPU seconds: workers {workers_cpu:.1f} (with their start-up), this process "
          f"{parent_sweep:.1f} in run_sweep (joining, runs table) + {parent_stats:.1f} for DSR/PBO; "
          f"on {workers} free cores about {workers_cpu / workers + parent_sweep + parent_stats:.1f} s "
          f"(workers in parallel, this process serial); load average {_load()}")
    return {"sweep_wall": sweep_wall, "total_wall": total_wall, "workers_cpu": workers_cpu,
            "parent_sweep_cpu": parent_sweep, "parent_stats_cpu": parent_stats}


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sweep-bars", default="20000,100000")
    parser.add_argument("--bt-configs", type=int, default=2, help="configs run in backtrader for its rate")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sim-bars", type=int, default=1_000_000, help="bars of part 2")
    parser.add_argument("--parts", default="1,2,3")
    parser.add_argument("--thousand-repeats", type=int, default=1, help="runs of part 3 (medians printed)")
    parser.add_argument("--old-src", help="part 1 also times the btedge sweep of this source tree (its src/), "
                                          "e.g. from git archive of an older commit")
    args = parser.parse_args()
    base, source = source_bars()
    print(f"bars tiled from {source}; load average {_load()}; "
          f"{os.cpu_count()} cores; vectorbt {vbt.__version__ if vbt else 'not importable'}; "
          f"backtesting.py {backtesting.__version__ if backtesting else 'not importable'}")
    parts = args.parts.split(",")
    if "1" in parts:
        for bars in (int(b) for b in args.sweep_bars.split(",")):
            sweep_throughput(base, bars, args.repeats, args.bt_configs, args.old_src)
    if "2" in parts:
        one_million(base, args.repeats, args.sim_bars)
    if "3" in parts:
        phases = [thousand(base, args.workers) for _ in range(args.thousand_repeats)]
        if len(phases) > 1:
            print("  medians of " + str(len(phases)) + " runs: " + ", ".join(
                f"{key} {statistics.median(p[key] for p in phases):.1f} s" for key in phases[0]))
    print(f"load average at the end: {_load()}")


if __name__ == "__main__":
    main()
