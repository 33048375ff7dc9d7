"""PNG plots of a universe selection: the DTW dendrogram and a return/volatility cluster map."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def _figure(width: float, height: float):  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt, plt.figure(figsize=(width, height))


def _leaf_label(ticker: str, sectors: pd.Series | None) -> str:
    if sectors is None or ticker not in sectors.index:
        return ticker
    return f"{ticker} ({''.join(word[0] for word in str(sectors[ticker]).split())})"


def plot_dendrogram(
    linkage: np.ndarray, tickers: pd.Index, path: str | Path, n_clusters: int, sectors: pd.Series | None = None
) -> Path:
    """Dendrogram of the DTW hierarchy, leaves labelled ``TICKER (sector initials)``, cut line drawn."""
    from scipy.cluster import hierarchy

    plt, fig = _figure(max(10.0, 0.16 * len(tickers)), 6.0)
    ax = fig.add_subplot(1, 1, 1)
    cut = _cut_height(linkage, n_clusters)
    hierarchy.dendrogram(
        linkage, labels=[_leaf_label(t, sectors) for t in tickers], ax=ax, leaf_font_size=6, color_threshold=cut
    )
    ax.axhline(cut, color="grey", linestyle="--", linewidth=0.8)
    ax.set_title(f"DTW hierarchical clustering ({len(tickers)} tickers, cut at {n_clusters} clusters)")
    ax.set_ylabel("DTW distance (z-scored log price)")
    return _save(plt, fig, path)


def _cut_height(linkage: np.ndarray, n_clusters: int) -> float:
    heights = np.sort(linkage[:, 2])
    k = len(heights) - n_clusters + 1  # merges done to reach n_clusters
    if k <= 0:
        return float(heights[0]) / 2
    upper = heights[k] if k < len(heights) else heights[-1] * 1.05
    return float((heights[k - 1] + upper) / 2)


def plot_cluster_map(features: pd.DataFrame, labels: pd.Series, path: str | Path, title: str) -> Path:
    """Scatter of annualised volatility vs return, one colour per cluster, tickers annotated."""
    plt, fig = _figure(10.0, 7.0)
    ax = fig.add_subplot(1, 1, 1)
    common = features.index.intersection(labels.index)
    points = features.loc[common]
    scatter = ax.scatter(
        points["ann_vol"], points["ann_return"], c=labels.loc[common].to_numpy(), cmap="tab20", s=28
    )
    for ticker, row in points.iterrows():
        ax.annotate(str(ticker), (row["ann_vol"], row["ann_return"]), fontsize=5, alpha=0.7)
    ax.set_xlabel("annualised volatility")
    ax.set_ylabel("annualised log return")
    ax.set_title(title)
    fig.colorbar(scatter, ax=ax, label="cluster")
    return _save(plt, fig, path)


def _save(plt, fig, path: str | Path) -> Path:  # type: ignore[no-untyped-def]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    log.info("wrote %s", path)
    return path
