"""Universe selection on a wide close table, using only prices up to ``asof``.

- :func:`kmeans_clusters`: K-means on (annualised return, annualised volatility), standardised.
- :func:`dtw_clusters`: agglomerative clustering on dynamic-time-warping distances (dtaidistance, C).
- :func:`top_volatility`: the N most volatile tickers.
- :func:`isolation_outliers`: cross-sectional IsolationForest on return/risk features.
- :func:`adjusted_rand_vs_sectors`: agreement of a clustering with GICS sectors (sklearn ARI).

See:
    - Berndt, D. J. and Clifford, J. (1994), "Using Dynamic Time Warping to Find Patterns in Time
      Series", KDD Workshop; dtaidistance (Meert et al., DTAI, KU Leuven).
    - Liu, Ting and Zhou (2008), "Isolation Forest", ICDM.
    - Hubert, L. and Arabie, P. (1985), "Comparing partitions", Journal of Classification 2.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from btedge.feeds.timestamps import infer_periods_per_year
from btedge.universe.data import complete, window

log = logging.getLogger(__name__)

Date = str | pd.Timestamp | None


def _log_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Bar-to-bar log returns of each ticker's own prices (NaN across a missing price)."""
    return np.log(prices).diff().iloc[1:]


def return_vol_features(closes: pd.DataFrame, asof: Date = None, lookback: int | None = None) -> pd.DataFrame:
    """Annualised mean log return (``ann_return``) and volatility (``ann_vol``) per ticker, each
    from the returns of its own prices in the window (a ticker listed mid-window: from its listing)."""
    rets = _log_returns(window(closes, asof, lookback))
    ppy = infer_periods_per_year(rets.index)
    return pd.DataFrame({"ann_return": rets.mean() * ppy, "ann_vol": rets.std(ddof=1) * np.sqrt(ppy)})


def _standardise(features: pd.DataFrame) -> np.ndarray:
    values = features.to_numpy(dtype=float)
    std = values.std(axis=0)
    return (values - values.mean(axis=0)) / np.where(std > 0, std, 1.0)


def kmeans_clusters(
    closes: pd.DataFrame, n_clusters: int = 11, asof: Date = None, lookback: int | None = None, seed: int = 0
) -> pd.Series:
    """K-means labels (0..k-1) on standardised annualised return and volatility, indexed by ticker."""
    from sklearn.cluster import KMeans

    features = return_vol_features(closes, asof, lookback)
    _check_k(n_clusters, len(features))
    model = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit(_standardise(features))
    return pd.Series(model.labels_, index=features.index, name="cluster")


def _check_k(n_clusters: int, n_tickers: int) -> None:
    if not 2 <= n_clusters <= n_tickers:
        raise ValueError(f"n_clusters must be in [2, {n_tickers}] (the number of tickers), got {n_clusters!r}")


def dtw_series(closes: pd.DataFrame, asof: Date = None, lookback: int | None = 252) -> pd.DataFrame:
    """What DTW compares: each ticker's log price path over the window, z-scored (shape, not level)."""
    logp = np.log(complete(window(closes, asof, lookback), "DTW"))
    std = logp.std(ddof=0)
    return (logp - logp.mean()) / std.where(std > 0, 1.0)


def dtw_distance_matrix(
    closes: pd.DataFrame, asof: Date = None, lookback: int | None = 252, dtw_window: int | None = 10
) -> pd.DataFrame:
    """Symmetric DTW distance matrix (tickers × tickers) of the z-scored log price paths.

    Computed by ``dtaidistance.dtw.distance_matrix_fast`` (C, OpenMP) with a Sakoe–Chiba band of
    ``dtw_window`` bars (``None`` = unconstrained).
    """
    from dtaidistance import dtw

    if dtw_window is not None and dtw_window < 1:
        raise ValueError(f"dtw_window must be >= 1 bar or None, got {dtw_window!r}")
    series = dtw_series(closes, asof, lookback)
    data = np.array(series.to_numpy(dtype=np.double).T, order="C")  # a writable copy (dtaidistance's C needs one)
    kwargs = {} if dtw_window is None else {"window": int(dtw_window)}
    matrix = np.asarray(dtw.distance_matrix_fast(data, compact=False, **kwargs), dtype=float)
    return pd.DataFrame(matrix, index=series.columns, columns=series.columns)


@dataclass(frozen=True)
class DTWClustering:
    """Labels of the DTW hierarchy cut into ``n_clusters``, with the linkage for the dendrogram."""

    labels: pd.Series
    linkage: np.ndarray
    distances: pd.DataFrame


def dtw_clusters(
    closes: pd.DataFrame,
    n_clusters: int = 11,
    asof: Date = None,
    lookback: int | None = 252,
    dtw_window: int | None = 10,
    method: str = "average",
) -> DTWClustering:
    """Agglomerative clustering (scipy ``linkage``, ``method``) on DTW distances, cut at ``n_clusters``."""
    if method not in {"average", "complete", "single", "weighted"}:
        raise ValueError(f"method must be average, complete, single or weighted (not ward on DTW), got {method!r}")
    distances = dtw_distance_matrix(closes, asof, lookback, dtw_window)
    _check_k(n_clusters, len(distances))
    condensed = squareform(distances.to_numpy(), checks=False)
    linkage = hierarchy.linkage(condensed, method=method)
    labels = hierarchy.fcluster(linkage, t=n_clusters, criterion="maxclust") - 1
    return DTWClustering(pd.Series(labels, index=distances.index, name="cluster"), linkage, distances)


def top_volatility(closes: pd.DataFrame, n: int = 20, asof: Date = None, lookback: int | None = 63) -> pd.Series:
    """The ``n`` tickers with the highest annualised volatility over the window, highest first."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    vol = return_vol_features(closes, asof, lookback)["ann_vol"]
    return vol.sort_values(ascending=False, kind="mergesort").iloc[:n]


def risk_features(closes: pd.DataFrame, asof: Date = None, lookback: int | None = 252) -> pd.DataFrame:
    """Cross-sectional features per ticker, each from its own prices in the window: return,
    volatility, skew, kurtosis, max drawdown, beta and correlation to the equal-weight market
    (the mean return of the tickers priced on each bar)."""
    prices = window(closes, asof, lookback)
    rets = _log_returns(prices)
    ppy = infer_periods_per_year(rets.index)
    market = rets.mean(axis=1)
    beta = rets.apply(lambda col: col.cov(market)) / market.var()
    drawdown = (prices / prices.cummax() - 1).min()
    return pd.DataFrame({
        "ann_return": rets.mean() * ppy,
        "ann_vol": rets.std(ddof=1) * np.sqrt(ppy),
        "skew": rets.apply(lambda c: sps.skew(c, bias=False, nan_policy="omit")),
        "kurtosis": rets.apply(lambda c: sps.kurtosis(c, bias=False, nan_policy="omit")),
        "max_drawdown": drawdown,
        "beta": beta,
        "corr": rets.corrwith(market),
    })


def isolation_outliers(
    closes: pd.DataFrame,
    contamination: float = 0.05,
    asof: Date = None,
    lookback: int | None = 252,
    seed: int = 0,
) -> pd.DataFrame:
    """IsolationForest on standardised :func:`risk_features`: ``score`` (lower = stranger) and ``outlier``."""
    from sklearn.ensemble import IsolationForest

    if not 0 < contamination <= 0.5:
        raise ValueError(f"contamination must be in (0, 0.5], got {contamination!r}")
    features = risk_features(closes, asof, lookback)
    undefined = features.isna().any(axis=1)
    if undefined.any():  # a flat price series has no skew, kurtosis or correlation
        log.warning("features undefined (flat prices?) for %s: set to the cross-sectional median",
                    list(features.index[undefined])[:10])
        features = features.fillna(features.median())
    forest = IsolationForest(n_estimators=200, contamination=contamination, random_state=seed)
    matrix = _standardise(features)
    flags = forest.fit_predict(matrix) == -1
    out = features.assign(score=forest.score_samples(matrix), outlier=flags)
    return out.sort_values("score", kind="mergesort")


def adjusted_rand_vs_sectors(labels: pd.Series, sectors: pd.Series) -> tuple[float, int]:
    """Adjusted Rand index of ``labels`` against ``sectors`` on their common tickers, and that count."""
    from sklearn.metrics import adjusted_rand_score

    common = labels.index.intersection(sectors.dropna().index)
    if len(common) < 2:
        raise ValueError(
            f"only {len(common)} ticker(s) in common between the clustering and the sector table; "
            "check that both use the same ticker symbols"
        )
    missing = labels.index.difference(common)
    if len(missing):
        log.info("%d ticker(s) without a sector left out of the ARI: %s", len(missing), list(missing)[:10])
    return float(adjusted_rand_score(sectors.loc[common], labels.loc[common])), len(common)


def random_label_ari(labels: pd.Series, sectors: pd.Series, n_draws: int = 200, seed: int = 0) -> tuple[float, float]:
    """Mean and 95th percentile ARI of ``labels`` shuffled across tickers: the no-skill baseline."""
    rng = np.random.default_rng(seed)
    draws = [
        adjusted_rand_vs_sectors(pd.Series(rng.permutation(labels.to_numpy()), index=labels.index), sectors)[0]
        for _ in range(n_draws)
    ]
    return float(np.mean(draws)), float(np.quantile(draws, 0.95))
