"""Sweep throughput: serial vs all local cores vs a two-worker Dask LocalCluster, same grid.

Prints the median wall time of ``--repeats`` runs of each mode, backtests per minute, and the
ratio of each mode's throughput to the serial baseline (measured in the same run). The sweeps use
the default vector engine, which runs in one process unless the sweep simulates at least
``btedge.sweeps.runner.LOCAL_VECTOR_MIN_BARS`` bars (this grid does not) and which a Dask cluster
does not run, so the three modes measure the same path here. The local
mode's time includes starting its process pool (that is what a user waits for); the Dask
cluster is started once before timing (its start-up time is printed separately) and reused.
All modes must return identical runs; the script checks it.

    .venv/bin/python bench/bench_sweep.py --bars 2000 --repeats 3
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import pandas as pd

from btedge.feeds import sample_data
from btedge.sweeps.runner import run_sweep

GRID = {"gamma_fast": [0.1, 0.2, 0.3, 0.4], "gamma_slow": [0.6, 0.7, 0.8]}


def timed(frames, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = run_sweep("laguerre_cross", frames, GRID, **kwargs)
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=2000, help="bars of the BTC 1h sample (default 2000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per mode (default 3)")
    parser.add_argument("--offsets", type=int, default=1, help="random start offsets (default 1)")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    frames = [("BTC", sample_data().iloc[: args.bars])]
    sweep = dict(lookbacks=(None,), n_offsets=args.offsets, seed=0)
    cores = os.cpu_count() or 1
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)
    print(f"dask LocalCluster (2 workers) start-up: {time.perf_counter() - t0:.2f} s")
    modes = {
        "serial": dict(mode="serial"),
        f"local ({cores} processes)": dict(mode="local", workers=cores),
        "dask (2 workers)": dict(mode="dask", address=client),
    }
    times: dict[str, list[float]] = {name: [] for name in modes}
    reference = None
    n_backtests = 0
    try:
        for _ in range(args.repeats):
            for name, kwargs in modes.items():
                seconds, result = timed(frames, **sweep, **kwargs)
                times[name].append(seconds)
                n_backtests = len(result.runs)
                if reference is None:
                    reference = result.runs
                pd.testing.assert_frame_equal(reference, result.runs, check_exact=True)
    finally:
        client.close()
        cluster.close()
    print(f"grid {len(GRID['gamma_fast'])}x{len(GRID['gamma_slow'])} x {1 + args.offsets} windows = "
          f"{n_backtests} backtests of laguerre_cross on {args.bars} bars; {args.repeats} repeats; cpu_count {cores}")
    base = statistics.median(times["serial"])
    print(f"{'mode':<22}{'median s':>10}{'bt/min':>10}{'vs serial':>11}   all runs (s)")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:<22}{med:>10.2f}{n_backtests / med * 60:>10.1f}{base / med:>10.2f}x   "
              + " ".join(f"{v:.2f}" for v in values))
    print("all modes returned identical runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
