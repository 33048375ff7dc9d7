"""``btedge-universe``: pick or cluster a stock universe from a close table, as of a date."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Sequence

import pandas as pd

from btedge.cli import add_common_options, add_data_options, load_options, run_cli, setup_logging, timestamp_arg
from btedge.feeds.resolve import resolve_closes
from btedge.universe import plots
from btedge.universe.data import load_gics
from btedge.universe.selection import (
    adjusted_rand_vs_sectors,
    dtw_clusters,
    isolation_outliers,
    kmeans_clusters,
    random_label_ari,
    return_vol_features,
    top_volatility,
)

log = logging.getLogger(__name__)

#: Argument names of the selection functions -> the flags that set them (for error messages).
FLAGS = {"n_clusters": "--clusters", "lookback": "--lookback", "contamination": "--contamination", "n": "--top",
         "dtw_window": "--dtw-window"}

DESCRIPTION = """\
Select or cluster a universe from a close-price CSV using only prices up to --asof.

  kmeans    K-means on annualised return and volatility (standardised)
  dtw       hierarchical clustering on dynamic-time-warping distances of z-scored log prices
  topvol    the N most volatile tickers
  outliers  cross-sectional IsolationForest on return/risk features

The CSV is wide (first column dates, one column of closes per ticker) or long (Date, Symbol,
Close, ...); each ticker keeps its own history (no back-filled prices: a ticker listed late is
measured from its listing, and left out, with a warning, where a method needs every bar). With --gics (a CSV with Symbol and 'GICS Sector'), clusterings are scored against the
sectors by the adjusted Rand index (ARI; 0 = chance, 1 = identical) beside a shuffled-label
baseline. Results go to --out as CSV and PNG.

example:
  btedge-universe dtw --data closes.csv.gz --gics constituents_gics.csv --asof 2019-12-31
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="btedge-universe", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("method", choices=["kmeans", "dtw", "topvol", "outliers"], help="selection method")
    parser.add_argument("--data", required=True, action="append", metavar="PATH",
                        help="close-price CSV (wide or long); repeat to combine files")
    parser.add_argument("--asof", default=None, type=timestamp_arg,
                        help="last date used (inclusive), e.g. 2019-12-31; default: all")
    parser.add_argument("--lookback", type=int, default=None, help="bars before --asof to use (default: method's)")
    parser.add_argument("--clusters", type=int, default=11, help="number of clusters (kmeans, dtw); default 11")
    parser.add_argument("--dtw-window", type=int, default=10, help="Sakoe-Chiba band in bars (dtw); default 10")
    parser.add_argument("--top", type=int, default=20, help="how many tickers (topvol); default 20")
    parser.add_argument("--contamination", type=float, default=0.05, help="outlier share (outliers); default 0.05")
    parser.add_argument("--gics", type=Path, default=None, help="constituents CSV with Symbol, 'GICS Sector'")
    parser.add_argument("--seed", type=int, default=0, help="random seed (kmeans, outliers, ARI baseline)")
    parser.add_argument("--out", type=Path, default=Path("reports/universe"), help="output folder")
    add_data_options(parser, window=False)
    add_common_options(parser)
    return parser


def _lookback(args: argparse.Namespace, default: int | None) -> int | None:
    return args.lookback if args.lookback is not None else default


def _score(labels: pd.Series, args: argparse.Namespace) -> list[str]:
    if args.gics is None:
        return []
    sectors = load_gics(args.gics)
    ari, n = adjusted_rand_vs_sectors(labels, sectors)
    base_mean, base_p95 = random_label_ari(labels, sectors, seed=args.seed)
    return [
        f"ARI vs GICS sectors: {ari:.4f} on {n} tickers "
        f"(shuffled-label baseline mean {base_mean:.4f}, 95th percentile {base_p95:.4f})"
    ]


def _run_clusters(closes: pd.DataFrame, args: argparse.Namespace) -> list[str]:
    sectors = load_gics(args.gics) if args.gics else None
    if args.method == "kmeans":
        labels = kmeans_clusters(closes, args.clusters, args.asof, _lookback(args, None), args.seed)
    else:
        result = dtw_clusters(closes, args.clusters, args.asof, _lookback(args, 252), args.dtw_window)
        labels = result.labels
        plots.plot_dendrogram(result.linkage, labels.index, args.out / "dtw_dendrogram.png", args.clusters, sectors)
    features = return_vol_features(closes, args.asof, _lookback(args, None if args.method == "kmeans" else 252))
    table = features.join(labels)
    if sectors is not None:
        table = table.join(sectors)
    table.to_csv(args.out / f"{args.method}_clusters.csv")
    plots.plot_cluster_map(
        features, labels, args.out / f"{args.method}_cluster_map.png", f"{args.method} clusters (asof {args.asof})"
    )
    sizes = labels.value_counts().sort_index().tolist()
    return [f"{args.method}: {len(labels)} tickers in {args.clusters} clusters, sizes {sizes}", *_score(labels, args)]


def _run_select(closes: pd.DataFrame, args: argparse.Namespace) -> list[str]:
    if args.method == "topvol":
        table = top_volatility(closes, args.top, args.asof, _lookback(args, 63)).to_frame()
        head = ", ".join(f"{t} {v:.0%}" for t, v in table["ann_vol"].items())
        lines = [f"top {len(table)} by annualised volatility: {head}"]
    else:
        table = isolation_outliers(closes, args.contamination, args.asof, _lookback(args, 252), args.seed)
        lines = [f"IsolationForest outliers: {', '.join(map(str, table.index[table['outlier']]))}"]
    table.to_csv(args.out / f"{args.method}.csv")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``btedge-universe``; returns the process exit code (2 for bad input)."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)

    def body() -> int:
        closes = resolve_closes(args.data, load_options(args))
        args.out.mkdir(parents=True, exist_ok=True)
        runner = _run_clusters if args.method in {"kmeans", "dtw"} else _run_select
        for line in runner(closes, args):
            print(line)
        print(f"results in {args.out}/")
        return 0

    return run_cli("btedge-universe", body, FLAGS)
