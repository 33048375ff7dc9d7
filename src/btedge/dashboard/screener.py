"""The screener page's scan: per ticker of a close panel, volatility, the Lorentzian anomaly score
of the last bar against its threshold, the IsolationForest outlier score and a k-means cluster,
all from prices up to ``asof`` (the :mod:`btedge.universe` functions)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from btedge.dashboard.overlays import OverlayParams, overlays
from btedge.universe import isolation_outliers, kmeans_clusters, return_vol_features, window


def last_anomaly(close: pd.Series, params: OverlayParams = OverlayParams()) -> tuple[float, float]:
    """(score, threshold) of the last bar of one close series (NaN while the window is short)."""
    close = close.dropna()
    if len(close) < 3:
        return float("nan"), float("nan")
    frame = pd.DataFrame({"open": close, "high": close, "low": close, "close": close})
    last = overlays(frame, params).iloc[-1]
    return float(last["score"]), float(last["threshold"])


def scan(closes: pd.DataFrame, asof: str | pd.Timestamp | None = None, lookback: int = 252,
         n_clusters: int = 4, contamination: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """One row per ticker, most anomalous first: ``ann_vol``, ``ann_return``, ``score``,
    ``threshold``, ``anomaly`` (score above threshold), ``outlier_score`` (lower = stranger),
    ``outlier`` and ``cluster``. Clusters need at least ``n_clusters`` tickers (else -1)."""
    prices = window(closes, asof, lookback)
    features = return_vol_features(prices)
    pairs = {ticker: last_anomaly(prices[ticker]) for ticker in prices}
    out = features.assign(score=[pairs[t][0] for t in features.index],
                          threshold=[pairs[t][1] for t in features.index])
    out["anomaly"] = out["score"] > out["threshold"]
    outliers = isolation_outliers(prices, contamination=contamination, seed=seed)
    out["outlier_score"] = outliers["score"].reindex(out.index)
    out["outlier"] = outliers["outlier"].reindex(out.index).fillna(False).astype(bool)
    k = min(n_clusters, len(out))
    out["cluster"] = kmeans_clusters(prices, k, seed=seed).reindex(out.index) if k >= 2 else -1
    ratio = (out["score"] / out["threshold"]).replace([np.inf, -np.inf], np.nan)
    return out.assign(ratio=ratio).sort_values("ratio", ascending=False, na_position="last").drop(columns="ratio")
