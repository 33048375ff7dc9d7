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
   100,000 bars, on ``--workers`` processes, then the deflated Sharpe ratio and PBO (CSCV, 16
   blocks) over all 1,000 on each window (target: under a minute on 2 cores).

vectorbt and backtesting.py are not btedge dependencies; when one is not importable the script
says so and leaves its rows out. To include them with the project's own interpreter and pins
(numpy, pandas, numba unchanged), install them and their missing dependencies, without
dependencies, into a folder only the bench puts on its path::

    .venv/bin/pip install --dry-run -c constraints.txt vectorbt backtesting   # lists what is new
    .venv/bin/pip install --no-deps -c constraints.txt --target .venv/bench-libs vectorbt backtesting <the new ones>
    PYTHONPATH=.venv/bench-libs .venv/bin/python bench/bench_vector.py

Timings are medians of ``--repeats`` runs, interleaved; wall and CPU seconds (the machine may be
shared: CPU seconds are the steadier figure; part 3 runs in worker processes, wall only).

    .venv/bin/python bench/bench_vector.py [--repeats 3] [--workers 2]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

import numpy as np
import pandas as pd
from bench_feed import source_bars, tiled

from btedge.engine import BacktestConfig
from btedge.strategies import LaguerreCross
from btedge.sweeps.grid import Window, expand_grid, make_tasks
from btedge.sweeps.runner import run_sweep
from btedge.sweeps.stats import deflated_sharpe_for_grid, pbo_cscv
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


def sweep_throughput(base: pd.DataFrame, bars: int, repeats: int, bt_configs: int) -> None:
    df = tiled(base, bars)
    frames = [("BTC", df)]
    combos = expand_grid(GRID)
    n = len(combos)
    print(f"\n## 1. sweep of {n} laguerre_cross configurations on {bars:,} bars")
    sweep = lambda: run_sweep(LaguerreCross, frames, GRID, fixed=PARAMS, config=CONFIG, engine="vector",  # noqa: E731
                              verify_top=0)
    run_sweep(LaguerreCross, frames, {"gamma_fast": [0.1]}, fixed=PARAMS, config=CONFIG, verify_top=0)  # compile
    rows = {}
    if vbt is not None:
        vbt_total = lambda: vbt_run(df, *vbt_signals(df, combos)).stats(silence_warnings=True)  # noqa: E731
        vbt_total()  # compile (numba specialises on the arrays' layout: warm up with the same shapes)
    for _ in range(repeats):  # interleaved
        rows.setdefault("btedge vector sweep (run_sweep, all figures)", []).append(median_time(sweep, 1))
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
    for name in ("vectorbt from_signals + signals", "vectorbt from_signals + signals + stats()"):
        if name in rates:
            print(f"ratio btedge vector / {name} throughput = {vec[0] / rates[name][0]:.2f} wall, "
                  f"{vec[1] / rates[name][1]:.2f} CPU (target >= 1)")
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


def _chunk(frames, tasks, config):  # worker: one window's slice of the grid
    from btedge.vector.sweep import run_tasks

    out = list(run_tasks(LaguerreCross, frames, tasks, config))
    return [t for t, *_ in out], np.column_stack([r.to_numpy() for _, _, r, _ in out]), [m for _, m, _, _ in out]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def thousand(base: pd.DataFrame, workers: int) -> None:
    df = tiled(base, 100_000)
    frames = [("BTC", df)]
    grid = {"gamma_fast": list(np.round(np.linspace(0.05, 0.5, 10), 3)),
            "gamma_slow": list(np.round(np.linspace(0.55, 0.95, 10), 3)),
            "stop_loss": [0.0, 0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.03, 0.05]}
    param_sets = [{**PARAMS, **p} for p in expand_grid(grid)]
    rng = np.random.default_rng(13)
    windows = [Window(k, int(s), int(s) + lb, lb, int(s)) for k, (lb, s) in
               enumerate((lb, rng.integers(0, len(df) - lb + 1)) for lb in (20_000, 40_000, 80_000))]
    print(f"\n## 3. {len(param_sets)} parameter sets × {len(windows)} windows "
          f"({', '.join(f'{w.lookback:,} bars from bar {w.start:,}' for w in windows)}) "
          f"on {len(df):,} bars, {workers} processes")
    start, cpu0, children0 = time.perf_counter(), time.process_time(), _children_cpu()
    results = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = []
        for window in windows:
            tasks = make_tasks(param_sets, [window])
            for part in np.array_split(np.arange(len(tasks)), workers):
                futures.append((window, pool.submit(_chunk, frames, [tasks[i] for i in part], CONFIG)))
        by_window: dict[int, list] = {}
        for window, future in futures:
            by_window.setdefault(window.window_id, []).append(future.result())
    sims = time.perf_counter() - start
    workers_cpu = _children_cpu() - children0  # the pool has shut down: its processes are reaped
    for wid, parts in sorted(by_window.items()):
        matrix = pd.DataFrame(np.column_stack([p[1] for p in parts]))
        sharpes = np.array([m["sharpe"] for p in parts for m in p[2]])
        trades = np.array([m["n_trades"] for p in parts for m in p[2]])
        dsr = deflated_sharpe_for_grid(matrix)
        pbo = pbo_cscv(matrix, 16)
        results.append((wid, matrix.shape, sharpes, trades, dsr, pbo))
    total = time.perf_counter() - start
    parent_cpu = time.process_time() - cpu0  # serial: submitting, collecting, DSR and PBO
    for wid, shape, sharpes, trades, dsr, pbo in results:
        best = int(np.nanargmax(sharpes))
        print(f"  window {wid}: {shape[1]} configs × {shape[0]:,} bars: annualised Sharpe median "
              f"{np.nanmedian(sharpes):.2f}, best {sharpes[best]:.3f} ({param_sets[best]}, {trades[best]:.0f} trades); "
              f"DSR {dsr.dsr:.3f} (N={dsr.n_trials}), PBO {pbo.pbo:.3f}")
    print(f"  {len(param_sets) * len(windows):,} backtests in {sims:.1f} s; with DSR and PBO over all "
          f"{len(param_sets)} on each window {total:.1f} s (target < 60 s on 2 cores); CPU seconds: workers "
          f"{workers_cpu:.1f} (with their start-up), this process {parent_cpu:.1f}; on {workers} free cores about "
          f"{workers_cpu / workers + parent_cpu:.1f} s (workers in parallel, this process serial)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sweep-bars", default="20000,100000")
    parser.add_argument("--bt-configs", type=int, default=2, help="configs run in backtrader for its rate")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sim-bars", type=int, default=1_000_000, help="bars of part 2")
    parser.add_argument("--parts", default="1,2,3")
    args = parser.parse_args()
    base, source = source_bars()
    print(f"bars tiled from {source}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} cores; vectorbt {vbt.__version__ if vbt else 'not importable'}; "
          f"backtesting.py {backtesting.__version__ if backtesting else 'not importable'}")
    parts = args.parts.split(",")
    if "1" in parts:
        for bars in (int(b) for b in args.sweep_bars.split(",")):
            sweep_throughput(base, bars, args.repeats, args.bt_configs)
    if "2" in parts:
        one_million(base, args.repeats, args.sim_bars)
    if "3" in parts:
        thousand(base, args.workers)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
