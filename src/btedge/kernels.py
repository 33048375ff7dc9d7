"""Pure numeric kernels behind the indicators (no backtrader import).

The same functions serve three callers, so backtest, live and ML features cannot drift apart:
an indicator's vectorised ``once`` (whole arrays), its incremental ``next`` (one bar) and the
feature builders in ``btedge.models``.

Laguerre cascade (Ehlers, *Cybernetic Analysis for Stocks and Futures*, 2004, ch. 14)::

    L0 = (1 - g) * x + g * L0[1]
    Lk = -g * L(k-1) + L(k-1)[1] + g * Lk[1]      k = 1, 2, 3
    filter = (L0 + 2 L1 + 2 L2 + L3) / 6

Every stage is a first-order linear filter, so a whole array is four ``scipy.signal.lfilter``
passes. With lfilter's transposed direct form the carried state of each stage is
``z0 = g * L0[1]`` and ``zk = L(k-1)[1] + g * Lk[1]``, so one state, the last (L0, L1, L2, L3),
moves losslessly between the vectorised and the bar-by-bar paths.
"""
from __future__ import annotations

import math
from array import array
from typing import NamedTuple

import numpy as np
from scipy.signal import lfilter


def as_line_array(values: np.ndarray) -> array:
    """A float64 ``array.array`` for backtrader line buffers, copied as bytes (not element-wise)."""
    out = array("d")
    out.frombytes(np.ascontiguousarray(values, dtype=float).tobytes())
    return out


def from_line_array(buf: array, start: int, end: int) -> np.ndarray:
    """A float64 view of ``buf[start:end]`` with no copy (backtrader's line buffers are ``array('d')``)."""
    return np.frombuffer(buf, dtype=float)[start:end]


class LaguerreState(NamedTuple):
    """The four stage values of the previous bar."""

    l0: float
    l1: float
    l2: float
    l3: float


def check_gamma(gamma: float, name: str = "gamma") -> float:
    """Return ``gamma`` as float or raise ``ValueError`` if it is outside [0, 1)."""
    g = float(gamma)
    if not 0.0 <= g < 1.0 or math.isnan(g):
        raise ValueError(f"{name} must be in [0, 1), got {gamma!r}")
    return g


def laguerre_init(x0: float, seed: bool) -> LaguerreState:
    """State before the first bar: the first price everywhere (DC steady state) or zeros."""
    v = float(x0) if seed else 0.0
    return LaguerreState(v, v, v, v)


def laguerre_step(state: LaguerreState, x: float, gamma: float) -> LaguerreState:
    """Advance the cascade by one bar (Ehlers' exact recursion)."""
    g = gamma
    l0p, l1p, l2p, l3p = state
    # Same operations, in the same order, as lfilter's transposed direct form in
    # laguerre_stages (state z = L(k-1)[1] + g*Lk[1], then y = z + b0*x), so the bar-by-bar
    # path and the vectorised path agree to the last bit and ties resolve the same way.
    l0 = g * l0p + (1.0 - g) * x
    l1 = (l0p + g * l1p) + -g * l0
    l2 = (l1p + g * l2p) + -g * l1
    l3 = (l2p + g * l3p) + -g * l2
    return LaguerreState(l0, l1, l2, l3)


def laguerre_filter_value(state: LaguerreState) -> float:
    """FIR-weighted combination of the four stages."""
    return (state.l0 + 2.0 * state.l1 + 2.0 * state.l2 + state.l3) / 6.0


def laguerre_rsi_value(state: LaguerreState, flat: float = 1.0) -> float:
    """Laguerre RSI from one state; ``flat`` is returned when CU + CD == 0."""
    cu = cd = 0.0
    for a, b in ((state.l0, state.l1), (state.l1, state.l2), (state.l2, state.l3)):
        if a >= b:
            cu += a - b
        else:
            cd += b - a
    den = cu + cd
    return cu / den if den else flat


def laguerre_stages(
    x: np.ndarray, gamma: float, state: LaguerreState
) -> tuple[np.ndarray, LaguerreState]:
    """Run the cascade over ``x`` from ``state``.

    Returns the (4, n) array of stage values and the state after the last bar.
    """
    g = gamma
    x = np.asarray(x, dtype=float)
    out = np.empty((4, x.size))
    if x.size == 0:
        return out, state
    l0p, l1p, l2p, l3p = state
    out[0], _ = lfilter([1.0 - g], [1.0, -g], x, zi=[g * l0p])
    prev = (l0p, l1p, l2p, l3p)
    for k in (1, 2, 3):
        out[k], _ = lfilter([-g, 1.0], [1.0, -g], out[k - 1], zi=[prev[k - 1] + g * prev[k]])
    return out, LaguerreState(*out[:, -1])


def laguerre_filter_array(stages: np.ndarray) -> np.ndarray:
    """Vectorised :func:`laguerre_filter_value` over a (4, n) stage array."""
    return (stages[0] + 2.0 * stages[1] + 2.0 * stages[2] + stages[3]) / 6.0


def laguerre_rsi_array(stages: np.ndarray, flat: float = 1.0) -> np.ndarray:
    """Vectorised :func:`laguerre_rsi_value` over a (4, n) stage array."""
    diff = stages[:-1] - stages[1:]
    cu = np.where(diff >= 0.0, diff, 0.0).sum(axis=0)
    cd = np.where(diff < 0.0, -diff, 0.0).sum(axis=0)
    den = cu + cd
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den != 0.0, cu / np.where(den != 0.0, den, 1.0), flat)


def laguerre_filter_series(x: np.ndarray, gamma: float = 0.5, seed: bool = True) -> np.ndarray:
    """Laguerre filter of a whole series (convenience for features and tests)."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return x.copy()
    stages, _ = laguerre_stages(x, check_gamma(gamma), laguerre_init(x[0], seed))
    return laguerre_filter_array(stages)


def laguerre_rsi_series(
    x: np.ndarray, gamma: float = 0.5, seed: bool = True, flat: float = 1.0
) -> np.ndarray:
    """Laguerre RSI of a whole series, every bar (no warm-up removed)."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return x.copy()
    stages, _ = laguerre_stages(x, check_gamma(gamma), laguerre_init(x[0], seed))
    return laguerre_rsi_array(stages, flat)


def laguerre_iir_coefficients(gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of the whole filter as one 4th-order IIR (ML_RIGOR.md section 2.2).

    ``H(z) = (1-g)^2 [c0 + c1 z^-1 + c1 z^-2 + c0 z^-3] / (6 (1 - g z^-1)^4)`` with
    ``c0 = g^2 - g + 1`` and ``c1 = (g - 2)(2g - 1)``. Used to cross-check the cascade.
    """
    g = check_gamma(gamma)
    c0 = g * g - g + 1.0
    c1 = (g - 2.0) * (2.0 * g - 1.0)
    b = (1.0 - g) ** 2 / 6.0 * np.array([c0, c1, c1, c0])
    a = np.array([1.0, -4.0 * g, 6.0 * g * g, -4.0 * g**3, g**4])
    return b, a


class AdaptiveState(NamedTuple):
    """State of the adaptive Laguerre filter between bars."""

    stages: LaguerreState
    filt: float
    alpha: float
    diffs: tuple[float, ...]  # last ``length`` tracking errors
    ratios: tuple[float, ...]  # last ``median`` normalised errors


def adaptive_init(x0: float, alpha0: float = 0.5) -> AdaptiveState:
    """Seeded start: stages and previous filter value at the first price."""
    return AdaptiveState(laguerre_init(x0, True), float(x0), alpha0, (), ())


def adaptive_step(
    state: AdaptiveState, x: float, length: int, median: int
) -> AdaptiveState:
    """One bar of Ehlers' adaptive Laguerre filter.

    ``diff = |x - filt[1]|``; once ``length`` diffs are known and their range is non-zero,
    ``alpha = median of the last `median` values of (diff - LL) / (HH - LL)``. On a flat
    range alpha keeps its previous value (no division by zero) and the cascade keeps running.
    """
    diffs = (state.diffs + (abs(x - state.filt),))[-length:]
    ratios = state.ratios
    alpha = state.alpha
    if len(diffs) == length:
        hh, ll = max(diffs), min(diffs)
        if hh - ll > 0.0:
            ratios = (ratios + ((diffs[-1] - ll) / (hh - ll),))[-median:]
            alpha = float(np.median(ratios))
    gamma = min(max(1.0 - alpha, 0.0), 1.0)
    stages = laguerre_step(state.stages, x, gamma)
    return AdaptiveState(stages, laguerre_filter_value(stages), alpha, diffs, ratios)


def adaptive_gamma_step(state: LaguerreState, x: float, gamma: float) -> tuple[LaguerreState, float]:
    """One bar of a Laguerre filter whose gamma is supplied per bar (volatility mode)."""
    g = min(max(gamma, 0.0), 1.0)
    stages = laguerre_step(state, x, g)
    return stages, laguerre_filter_value(stages)


def lorentzian_score(returns: np.ndarray) -> np.ndarray:
    """``log(1 + (r_t - r_{t-1})^2)``; the first element is NaN."""
    r = np.asarray(returns, dtype=float)
    out = np.full(r.shape, np.nan)
    out[1:] = np.log1p(np.diff(r) ** 2)
    return out
