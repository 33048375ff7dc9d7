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

import math
from dataclasses import dataclass

import numpy as np

from btedge.kernels import (
    LaguerreState,
    check_gamma,
    laguerre_filter_array,
    laguerre_filter_value,
    laguerre_init,
    laguerre_rsi_array,
    laguerre_stages,
    laguerre_step,
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


def _div(a: float, b: float) -> float:
    """``a / b`` with numpy's IEEE results where Python raises (``b == 0``: +-inf, or NaN for 0/0)."""
    if b:  # non-zero or NaN
        return a / b
    if a != a or a == 0.0:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _fmax(a: float, b: float) -> float:
    """``np.fmax`` on two floats (the non-NaN one when one is NaN)."""
    return a if (a >= b or b != b) else b


def _log(x: float) -> float:
    """``np.log`` of a float without its warnings (numpy's log, not ``math.log``: they differ in
    the last bit on some CPUs, and the batch columns use numpy's)."""
    if x > 0.0:
        return float(np.log(x))
    return -math.inf if x == 0.0 else math.nan


#: The order in which :meth:`FeatureStream.update` computes the columns (rolling, then Laguerre).
_STREAM_ORDER = FEATURES[:5] + FEATURES[8:] + FEATURES[5:8]


class _Ring:
    """The last ``size`` values of one series; ``buf[i - k]`` is the value ``k`` bars back (Python's
    negative indices wrap round the ring), so a window is read newest first with no copy."""

    __slots__ = ("buf", "i", "size")

    def __init__(self, size: int) -> None:
        self.buf = [math.nan] * size
        self.size = size
        self.i = size - 1

    def push(self, x: float) -> None:
        i = self.i + 1
        self.i = 0 if i == self.size else i
        self.buf[self.i] = x

    def sum(self, w: int) -> float:
        """x[t] + x[t-1] + ... + x[t-w+1], added in that order (:func:`rolling_sum`'s order)."""
        buf, i = self.buf, self.i
        acc = buf[i]
        for j in range(i - 1, i - w, -1):
            acc += buf[j]
        return acc

    def std(self, w: int, mean: float) -> float:
        """:func:`rolling_std`'s two-pass population std of the last ``w`` values about ``mean``."""
        buf, i = self.buf, self.i
        d = buf[i] - mean
        acc = d * d
        for j in range(i - 1, i - w, -1):
            d = buf[j] - mean
            acc += d * d
        return math.sqrt(acc / w)

    def extreme(self, lowest: bool) -> float:
        """``np.minimum`` / ``np.maximum`` folded over the whole ring, newest first (NaN propagates)."""
        buf, i = self.buf, self.i
        acc = buf[i]
        for j in range(i - 1, i - self.size, -1):
            x = buf[j]
            if not ((acc <= x if lowest else acc >= x) or acc != acc):
                acc = x
        return acc


class FeatureStream:
    """Bar-by-bar twin of :func:`build_features` (for ``next()`` and live): O(1) state per column.

    Each rolling column keeps its inputs in a fixed-size ring and folds its window in exactly the
    order of the batch fold (newest first), so every row equals the batch row bit for bit: running
    sums would be O(1) in time too, but their rounding drifts from the batch. Per bar this is at most
    a few hundred float additions, one ``np.log`` and two ``np.log1p`` (numpy's, as the batch), and
    no array of history; the Laguerre columns advance :func:`~btedge.kernels.laguerre_step`.
    """

    def __init__(self, spec: FeatureSpec = FeatureSpec()) -> None:
        self.spec = spec
        self._pick = [_STREAM_ORDER.index(name) for name in spec.columns]
        self._n = 0
        self._prev_c = math.nan
        self._state: LaguerreState | None = None
        self._prev_filter = math.nan
        self._r = _Ring(60)  # log returns: ret0..4, lorentz, vol (20), vol_ratio (5 / 60)
        self._gain, self._loss, self._tr = _Ring(14), _Ring(14), _Ring(14)
        self._c, self._lv = _Ring(20), _Ring(20)
        self._low, self._high = _Ring(50), _Ring(50)

    def update(self, o: float, h: float, low: float, c: float, v: float) -> np.ndarray:
        """Append one bar and return its feature row."""
        h, low, c, v = float(h), float(low), float(c), float(v)
        self._n += 1
        row = self._rolling(h, low, c, v) + self._laguerre(c)
        self._prev_c = c
        return np.array([row[k] for k in self._pick])

    def _rolling(self, h: float, low: float, c: float, v: float) -> list[float]:
        """:func:`rolling_columns` at the newest bar (``FEATURES[:5] + FEATURES[8:]``)."""
        n, prev_c, rr = self._n, self._prev_c, self._r
        r = _log(_div(c, prev_c)) if n > 1 else math.nan
        d = r - rr.buf[rr.i]
        lorentz = float(np.log1p(d * d)) if n > 1 else math.nan
        rr.push(r)
        self._gain.push((r if r > 0 else 0.0) + 0.0 * r)
        self._loss.push((-r if r < 0 else 0.0) + 0.0 * r)
        self._tr.push(_fmax(h - low, _fmax(abs(h - prev_c), abs(low - prev_c))))
        self._c.push(c)
        self._low.push(low)
        self._high.push(h)
        lv = float(np.log1p(_fmax(v, 0.0)))
        self._lv.push(lv)
        buf, i = rr.buf, rr.i
        rets = [buf[i], buf[i - 1], buf[i - 2], buf[i - 3], buf[i - 4]]
        nan = math.nan
        rsi = atr = bbw = vol = vol_ratio = volu = sup = res = nan
        if n >= 14:
            gain, loss = self._gain.sum(14) / 14, self._loss.sum(14) / 14
            den = gain + loss
            rsi = ((gain / den if den > 0 else 0.5) - 0.5) + 0.0 * den
            atr = _div(self._tr.sum(14) / 14, c)
        if n >= 20:
            mean = self._c.sum(20) / 20
            bbw = _div(4.0 * self._c.std(20, mean), mean)
            vol = rr.std(20, rr.sum(20) / 20)
            volu = lv - self._lv.sum(20) / 20
        if n >= 50:
            sup = _div(c, self._low.extreme(True)) - 1.0
            res = _div(self._high.extreme(False), c) - 1.0
        if n >= 60:
            vol_ratio = _div(rr.std(5, rr.sum(5) / 5), rr.std(60, rr.sum(60) / 60))
        return [*rets, lorentz, rsi, atr, bbw, sup, res, vol, vol_ratio, _div(h - low, c), volu]

    def _laguerre(self, c: float) -> list[float]:
        """:func:`laguerre_columns` at the newest bar (``lag_dist``, ``lag_slope``, ``lrsi``)."""
        state = self._state if self._state is not None else laguerre_init(c, True)
        self._state = state = laguerre_step(state, c, self.spec.gamma)
        filt = laguerre_filter_value(state)
        slope = _div(filt, self._prev_filter) - 1.0
        self._prev_filter = filt
        cu = cd = 0.0  # laguerre_rsi_array: a NaN difference counts in neither sum
        for k, (a, b) in enumerate(((state.l0, state.l1), (state.l1, state.l2), (state.l2, state.l3))):
            diff = a - b
            up, down = (diff if diff >= 0.0 else 0.0), (-diff if diff < 0.0 else 0.0)
            cu, cd = (up, down) if k == 0 else (cu + up, cd + down)
        den = cu + cd
        lrsi = (cu / den if den != 0.0 else 1.0) - 0.5
        return [_div(c, filt) - 1.0, slope, lrsi]


def sequence_windows(features: np.ndarray, rows: np.ndarray, seq_len: int) -> np.ndarray:
    """(len(rows), seq_len, F) windows ending at each row index (rows >= seq_len - 1)."""
    idx = np.asarray(rows)[:, None] + np.arange(1 - seq_len, 1)[None, :]
    return features[idx]
