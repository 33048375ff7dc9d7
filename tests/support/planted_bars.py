"""A learnable planted signal and the positive control every model member must pass.

``planted_ohlcv`` makes bars whose next move is coded in the current bar's volume: class
s_t in {-1, 0, +1} is drawn at random, volume_t = exp(8 + s_t) and the next bar's log return
is ``move * s_t`` plus small noise. With horizon 1 and the default neutral band the label is
s_t, and the ``volu`` feature (log volume minus its 20-bar mean) carries it. A member that
learns anything reaches a high balanced accuracy out of sample; one that cannot learn stays
near 1/3.
"""
from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score

from btedge.models.features import FeatureSpec, build_features, sequence_windows
from btedge.models.labels import LabelSpec, make_labels
from btedge.models.spec import ModelSpec
from btedge.training.cache import ModelCache
from btedge.training.schedule import Schedule
from btedge.training.walkforward import WalkForward


def planted_ohlcv(n: int = 1200, seed: int = 0, move: float = 0.01, noise: float = 0.001) -> pd.DataFrame:
    """OHLCV bars (1-minute index) whose next return is coded in this bar's volume."""
    rng = np.random.default_rng(seed)
    s = rng.integers(-1, 2, n).astype(float)
    r = np.zeros(n)
    r[1:] = move * s[:-1] + noise * rng.standard_normal(n - 1)
    close = 100.0 * np.exp(np.cumsum(r))
    open_ = np.concatenate(([close[0]], close[:-1]))
    wick = 1.0 + 0.0005 * rng.random(n)
    return pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close) * wick, "low": np.minimum(open_, close) / wick,
         "close": close, "volume": np.exp(8.0 + s)},
        index=pd.date_range("2024-01-01", periods=n, freq="1min"),
    )


def positive_control(spec: ModelSpec, n: int = 1200, train: int = 900, seed: int = 0) -> float:
    """Balanced accuracy of ``spec`` trained walk-forward on bars < ``train`` of planted data,
    scored on the bars after (out of sample)."""
    df = planted_ohlcv(n, seed)
    o, h, low, c, v = (df[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    features = build_features(o, h, low, c, v, FeatureSpec())
    label_spec = LabelSpec(horizon=1)
    labels = make_labels(h, low, c, label_spec)
    with tempfile.TemporaryDirectory() as tmp:
        walker = WalkForward(Schedule(train, n - train, horizon=1), spec, ModelCache(tmp),
                             FeatureSpec().key(), label_spec.key(), min_samples=50)
        fitted = walker.fitted(train, features, labels)
        rows = np.arange(train, n)
        rows = rows[np.isfinite(labels[rows])]
        probs = fitted.predict(sequence_windows(features, rows, spec.window), 3)
    return float(balanced_accuracy_score(labels[rows].astype(int), probs.argmax(axis=1)))
