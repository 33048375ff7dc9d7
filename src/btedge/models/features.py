"""Causal feature matrices for the ML models (no backtrader import).

Every column at bar t uses bars <= t only, and is *prefix-exact*: the matrix computed on the
first k bars equals, bit for bit, the first k rows of the matrix computed on all bars. Rolling
statistics are sums of shifted arrays over a fixed window (the same float operations whatever
the series length), the Laguerre columns come from ``btedge.kernels`` (an ``lfilter``
recursion), so a backtest, a truncated backtest and a live feed see the same numbers.

Columns (``FEATURES``):

- ``ret0`` .. ``ret4``: log returns of the close, lags 0..4
- ``lag_dist``: close / Laguerre filter(gamma) - 1; ``lag_slope``: one-bar change of the filter
- ``lrsi``: Laguerre RSI(gamma) - 0.5; ``lorentz``: ``log(1 + (r_t - r_{t-1})^2)``
- ``rsi``: Cutler's RSI(14) (simple means of gains and losses) / 100 - 0.5
- ``atr``: mean true range(14) / close; ``bbw``: Bollinger width(20, 2) = 4 std / mean
- ``sup_dist`` / ``res_dist``: close / lowest low(50) - 1 and highest high(50) / close - 1
- ``vol``: std of ``ret0`` over 20 bars; ``vol_ratio``: std over 5 / std over 60
- ``range``: (high - low) / close; ``volu``: log1p(volume) minus its 20-bar mean
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from btedge.kernels import (
    check_gamma,
    laguerre_filter_array,
    laguerre_init,
    laguerre_rsi_array,
    laguerre_stages,
    lorentzian_score,
)

FEATURES: tuple[str, ...] = (
    "ret0", "ret1", "ret2", "ret3", "ret4", "lag_dist", "lag_slope", "lrsi", "lorentz",
    "rsi", "atr", "bbw", "sup_dist", "res_dist", "vol", "vol_ratio", "range", "volu",
)
#: Columns of the anomaly detector (rolling return / volatility features).
ANOMALY_FEATURES: tuple[str, ...] = ("ret0", "lorentz", "vol", "vol_ratio", "range", "volu")
#: Bars of history that fully determine every rolling column (the Laguerre ones are recursive).
LOOKBACK = 61
FEATURE_SET_VERSION = 1


@dataclass(frozen=True)
class FeatureSpec:
    """Feature-set parameters (part of every model's cache key)."""

    gamma: float = 0.5
    columns: tuple[str, ...] = FEATURES

    def __post_init__(self) -> None:
        check_gamma(self.gamma)
        unknown = [c for c in self.columns if c not in FEATURES]
        if unknown or not self.columns:
            raise ValueError(f"columns must be a non-empty subset of {FEATURES}, got unknown {unknown}")

    def key(self) -> dict:
        return {"gamma": self.gamma, "columns": list(self.columns), "version": FEATURE_SET_VERSION}


def shift(x: np.ndarray, k: int) -> np.ndarray:
    """``x`` delayed by ``k`` bars, NaN-padded (``k`` >= 0)."""
    if k == 0:
        return x.copy()
    out = np.full_like(x, np.nan)
    out[k:] = x[:-k]
    return out


def _windows(x: np.ndarray, w: int) -> np.ndarray:
    """(n - w + 1, w) view; row i holds x[i .. i + w - 1] (bar t = i + w - 1 in the last column)."""
    return np.lib.stride_tricks.sliding_window_view(x, w)


def _fold_window(x: np.ndarray, w: int, step, first=None) -> np.ndarray:
    """Fold ``step`` over x[t], x[t-1], ..., x[t-w+1] in that order; NaN for t < w - 1.

    The operation order is fixed per bar, so every row is bit-identical whatever the series
    length or start (prefix-exact and equal to the bar-by-bar stream).
    """
    out = np.full(x.shape, np.nan)
    if x.size < w:
        return out
    v = _windows(x, w)
    acc = first(v[:, w - 1]) if first else v[:, w - 1].copy()
    for k in range(1, w):
        acc = step(acc, v[:, w - 1 - k])
    out[w - 1 :] = acc
    return out


def rolling_sum(x: np.ndarray, w: int) -> np.ndarray:
    """Sum of the last ``w`` values (NaN for the first ``w - 1``), fixed summation order."""
    return _fold_window(x, w, np.add)


def rolling_mean(x: np.ndarray, w: int) -> np.ndarray:
    return rolling_sum(x, w) / w


def rolling_std(x: np.ndarray, w: int) -> np.ndarray:
    """Population std over ``w`` bars (two-pass: mean first, then squared deviations)."""
    mean = rolling_mean(x, w)[w - 1 :]
    dev = _fold_window(x, w, lambda acc, col: acc + (col - mean) ** 2, lambda col: (col - mean) ** 2)
    return np.sqrt(dev / w)


def rolling_extreme(x: np.ndarray, w: int, fn) -> np.ndarray:
    return _fold_window(x, w, fn)


def _log_returns(close: np.ndarray) -> np.ndarray:
    r = np.full(close.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        r[1:] = np.log(close[1:] / close[:-1])
    return r


def _cutler_rsi(r: np.ndarray, w: int = 14) -> np.ndarray:
    gain = rolling_mean(np.where(r > 0, r, 0.0) + 0.0 * r, w)
    loss = rolling_mean(np.where(r < 0, -r, 0.0) + 0.0 * r, w)
    den = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, gain / np.where(den > 0, den, 1.0), 0.5) - 0.5 + 0.0 * den


def rolling_columns(o: np.ndarray, h: np.ndarray, low: np.ndarray, c: np.ndarray, v: np.ndarray) -> dict:
    """The non-recursive columns; row t depends only on bars t-LOOKBACK+1 .. t."""
    r = _log_returns(c)
    prev_c = shift(c, 1)
    tr = np.fmax(h - low, np.fmax(np.abs(h - prev_c), np.abs(low - prev_c)))
    cols = {f"ret{k}": shift(r, k) for k in range(5)}
    cols["lorentz"] = lorentzian_score(r)
    cols["rsi"] = _cutler_rsi(r)
    cols["atr"] = rolling_mean(tr, 14) / c
    cols["bbw"] = 4.0 * rolling_std(c, 20) / rolling_mean(c, 20)
    cols["sup_dist"] = c / rolling_extreme(low, 50, np.minimum) - 1.0
    cols["res_dist"] = rolling_extreme(h, 50, np.maximum) / c - 1.0
    cols["vol"] = rolling_std(r, 20)
    with np.errstate(invalid="ignore", divide="ignore"):
        cols["vol_ratio"] = rolling_std(r, 5) / rolling_std(r, 60)
    cols["range"] = (h - low) / c
    lv = np.log1p(np.fmax(v, 0.0))
    cols["volu"] = lv - rolling_mean(lv, 20)
    return cols


def laguerre_columns(stages: np.ndarray, close: np.ndarray, prev_filter: float) -> dict:
    """Laguerre columns from a (4, n) stage array; ``prev_filter`` is the filter before bar 0."""
    filt = laguerre_filter_array(stages)
    before = np.concatenate(([prev_filter], filt[:-1]))
    return {
        "lag_dist": close / filt - 1.0,
        "lag_slope": filt / before - 1.0,
        "lrsi": laguerre_rsi_array(stages) - 0.5,
    }


def build_features(
    o: np.ndarray, h: np.ndarray, low: np.ndarray, c: np.ndarray, v: np.ndarray,
    spec: FeatureSpec = FeatureSpec(),
) -> np.ndarray:
    """(n, len(spec.columns)) float matrix; NaN where a column's warm-up is not complete."""
    arrays = [np.asarray(a, dtype=float) for a in (o, h, low, c, v)]
    n = arrays[3].size
    if n == 0:
        return np.empty((0, len(spec.columns)))
    cols = rolling_columns(*arrays)
    close = arrays[3]
    stages, _ = laguerre_stages(close, spec.gamma, laguerre_init(close[0], True))
    cols.update(laguerre_columns(stages, close, np.nan))
    return np.column_stack([cols[name] for name in spec.columns])


class FeatureStream:
    """Bar-by-bar twin of :func:`build_features` (for ``next()`` and live): O(LOOKBACK) per bar."""

    def __init__(self, spec: FeatureSpec = FeatureSpec()) -> None:
        self.spec = spec
        self._tail: list[list[float]] = [[], [], [], [], []]
        self._state = None
        self._prev_filter = np.nan

    def update(self, o: float, h: float, low: float, c: float, v: float) -> np.ndarray:
        """Append one bar and return its feature row."""
        for buf, x in zip(self._tail, (o, h, low, c, v)):
            buf.append(float(x))
            if len(buf) > LOOKBACK:
                del buf[0]
        if self._state is None:
            self._state = laguerre_init(c, True)
        stages, self._state = laguerre_stages(np.array([float(c)]), self.spec.gamma, self._state)
        cols = {k: col[-1:] for k, col in rolling_columns(*(np.array(b) for b in self._tail)).items()}
        cols.update(laguerre_columns(stages, np.array([float(c)]), self._prev_filter))
        self._prev_filter = float(laguerre_filter_array(stages)[-1])
        return np.array([cols[name][0] for name in self.spec.columns])


def sequence_windows(features: np.ndarray, rows: np.ndarray, seq_len: int) -> np.ndarray:
    """(len(rows), seq_len, F) windows ending at each row index (rows >= seq_len - 1)."""
    idx = np.asarray(rows)[:, None] + np.arange(1 - seq_len, 1)[None, :]
    return features[idx]
