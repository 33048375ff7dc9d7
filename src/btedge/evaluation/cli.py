"""``btedge-evaluate``: the walk-forward ML evaluation and the design's claims, regenerating
docs/ml_evaluation.md and docs/claims.md (between their result markers).

    btedge-evaluate                       # the full run (all data sets, 5 seeds, every claim)
    btedge-evaluate --sets btc4h,spy1m --claims lagnet,ensemble --seeds 5
    btedge-evaluate --quick --docs /tmp/out   # CI: a 1,000-bar slice, tiny nets, tiny claims (< 60 s)

Fold models are cached (``--cache``): an interrupted or repeated run retrains nothing it has
already trained, so it resumes where it stopped. Run it with one thread per process
(``OMP_NUM_THREADS=1``); progress bars go to stderr.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import Iterator

from tqdm.auto import tqdm

from btedge.cli import UsageError, add_common_options, run_cli, setup_logging
from btedge.evaluation import claims as C
from btedge.evaluation.datasets import DATASETS, DEFAULT_SETS, QUICK, select
from btedge.evaluation.report import claims_markdown, evaluation_markdown, write_between_markers
from btedge.evaluation.runner import DatasetResult, Settings, evaluate_dataset
from btedge.evaluation.volatility import VolSettings

log = logging.getLogger(__name__)
CLAIMS = ("lagnet", "ensemble", "online", "eth", "laguerre", "momentum", "kan")
QUICK_SETTINGS = Settings(members="lstm,lstm,cnn,cnn,tcn,tcn,xgb", seeds=2, seq_len=8, hidden=4, epochs=2,
                          max_samples=300, min_samples=100, n_boot=100)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="btedge-evaluate", description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default=",".join(DEFAULT_SETS),
                    help=f"comma-separated data sets ('pairs' = the ten 5-minute pairs): {', '.join(DATASETS)}")
    ap.add_argument("--claims", default=",".join(CLAIMS), help=f"claims to test ('' = none): {', '.join(CLAIMS)}")
    ap.add_argument("--seeds", type=int, default=5, help="independent seeds per configuration (>= 5 for the record)")
    ap.add_argument("--epochs", type=int, default=Settings.epochs, help="most training epochs (early stopping)")
    ap.add_argument("--n-boot", type=int, default=Settings.n_boot, help="block-bootstrap replicates")
    ap.add_argument("--cache", default=Settings.cache, help="fold-model cache folder (makes runs resumable)")
    ap.add_argument("--docs", type=Path, default=Path("docs"), help="folder of ml_evaluation.md and claims.md")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--jobs", type=int, default=1, help="data sets evaluated in parallel processes (one core each)")
    ap.add_argument("--quick", action="store_true", help="CI smoke run: one small slice, tiny nets, tiny claims")
    add_common_options(ap)
    return ap


def _settings(args: argparse.Namespace) -> Settings:
    if args.seeds < 1 or args.epochs < 1 or args.n_boot < 10 or args.jobs < 1:
        raise UsageError("--seeds, --epochs and --jobs must be >= 1 and --n-boot >= 10. "
                         "Fix: --seeds 5 --epochs 8 --n-boot 500 --jobs 2")
    if args.quick:
        return replace(QUICK_SETTINGS, cache=args.cache)
    return Settings(seeds=args.seeds, epochs=args.epochs, n_boot=args.n_boot, cache=args.cache)


def _claims(names: list[str], results: list[DatasetResult], s: Settings, quick: bool) -> list[C.ClaimRow]:
    seeds = s.seed_values()
    rows = []
    steps = tqdm(names, desc="claims", disable=None)
    for name in steps:
        steps.set_postfix_str(name)
        if name == "lagnet":
            rows.append(C.lagnet_static_vs_dynamic(QUICK if quick else DATASETS["btc4h"], s, seeds))
        elif name == "ensemble":
            rows.append(C.ensemble_vs_singles(results))
        elif name == "online":
            ds = replace(DATASETS["btc1m"], limit=3000, train_bars=1500, retrain_every=750) if quick else DATASETS["btc1m"]
            rows.append(C.online_vs_static(ds, s.n_boot))
        elif name == "eth":
            rows.append(C.eth_cnn_ssm(s, quick))
        elif name == "laguerre":
            rows.append(C.laguerre_cross(s.n_boot, limit=2000 if quick else 0))
        elif name == "momentum":
            rows.append(C.dual_momentum(s.n_boot, start="2014-01-01" if quick else ""))
        elif name == "kan":
            vs = VolSettings(train_bars=500, every=200, epochs=2, kan_steps=3) if quick else VolSettings()
            ds = replace(DATASETS["sp500d"], limit=900) if quick else DATASETS["sp500d"]
            rows.append(C.kan_volatility(ds, seeds[:1] if quick else seeds, s.n_boot, vs))
    return rows


def _figures(results: list[DatasetResult], rows: list[C.ClaimRow]) -> dict:
    def conf(c):
        return {"name": c.name, "seeds": c.n_seeds, "points": c.points, "spread": c.spread,
                "intervals": {k: asdict(v) for k, v in c.intervals.items()}}
    return {"datasets": [{"key": r.ds.key, "bars": r.bars, "scored_bars": r.scored_bars, "wall_s": r.wall_s,
                          "configs": [conf(c) for c in r.configs],
                          "differences": {p: {m: asdict(v) for m, v in d.items()} for p, d in r.differences.items()},
                          "dsr": r.dsr.dsr if r.dsr else None, "pbo": r.pbo.pbo if r.pbo else None}
                         for r in results],
            "claims": [asdict(r) for r in rows]}


def figures_json(results: list[DatasetResult], rows: list[C.ClaimRow]) -> str:
    """The figures as strict JSON (``--json``): ``null`` for an undefined figure, never a ``NaN``."""
    from btedge.report import to_json

    return to_json(_figures(results, rows))


def _evaluate_all(sets: list, s: Settings, jobs: int) -> Iterator[DatasetResult]:
    """Results in the order of ``sets``; with ``jobs > 1`` from that many single-threaded processes."""
    if jobs <= 1:
        for ds in tqdm(sets, desc="data sets", disable=None):
            yield evaluate_dataset(ds, s)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_one_thread) as pool:
        futures = [pool.submit(evaluate_dataset, ds, s, False) for ds in sets]
        for future in tqdm(futures, desc="data sets", disable=None):
            yield future.result()


def _one_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"


def _body(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    s = _settings(args)
    sets = [QUICK] if args.quick else select(args.sets)
    names = [c.strip() for c in args.claims.split(",") if c.strip()]
    unknown = [c for c in names if c not in CLAIMS]
    if unknown:
        raise UsageError(f"unknown claim(s) {unknown}. Fix: --claims {','.join(CLAIMS)}")
    t0 = time.perf_counter()
    results: list[DatasetResult] = []
    not_run = [k for k in DEFAULT_SETS if k not in {d.key for d in sets}] if not args.quick else []
    for result in _evaluate_all(sets, s, args.jobs):
        results.append(result)
        text = evaluation_markdown(results, s, args.quick, time.perf_counter() - t0, not_run)
        write_between_markers(args.docs / "ml_evaluation.md", text, "Walk-forward evaluation of the ML strategies")
    rows = _claims(names, results, s, args.quick)
    wall = time.perf_counter() - t0
    write_between_markers(args.docs / "ml_evaluation.md",
                          evaluation_markdown(results, s, args.quick, wall, not_run),
                          "Walk-forward evaluation of the ML strategies")
    if rows:
        write_between_markers(args.docs / "claims.md", claims_markdown(rows), "The design's claims, tested")
    if args.json:
        args.json.write_text(figures_json(results, rows))
    print(f"btedge-evaluate: {len(results)} data set(s), {len(rows)} claim(s) in {wall / 60:.1f} min; "
          f"wrote {args.docs / 'ml_evaluation.md'}" + (f" and {args.docs / 'claims.md'}" if rows else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run_cli("btedge-evaluate", lambda: _body(args))
