"""Universe selection: clustering and screening a stock universe, using only prices up to ``asof``.

Plain functions over a wide close DataFrame (dates × tickers) plus the ``btedge-universe`` CLI.
scikit-learn and dtaidistance come with the ``multi`` extra.
"""
from __future__ import annotations

from typing import Sequence

from btedge.universe.data import load_closes, load_gics, window
from btedge.universe.selection import (
    DTWClustering,
    adjusted_rand_vs_sectors,
    dtw_clusters,
    dtw_distance_matrix,
    dtw_series,
    isolation_outliers,
    kmeans_clusters,
    random_label_ari,
    return_vol_features,
    risk_features,
    top_volatility,
)

__all__ = [
    "DTWClustering",
    "adjusted_rand_vs_sectors",
    "dtw_clusters",
    "dtw_distance_matrix",
    "dtw_series",
    "isolation_outliers",
    "kmeans_clusters",
    "load_closes",
    "load_gics",
    "main",
    "random_label_ari",
    "return_vol_features",
    "risk_features",
    "top_volatility",
    "window",
]


def main(argv: Sequence[str] | None = None) -> int:
    """``btedge-universe`` console script (see :mod:`btedge.universe.cli`)."""
    from btedge.universe.cli import main as cli_main

    return cli_main(argv)
