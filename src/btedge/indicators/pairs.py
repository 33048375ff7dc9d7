"""Pairs-trading indicators over two datas: hedge ratio, spread, z-score, cointegration.

Every indicator takes two datas, ``y`` (data0) and ``x`` (data1), which must share their
timestamps (``btedge.feeds.panel.align_frames`` restricts frames to their common dates); the
vectorised ``once`` checks this. The numeric work is in the pure ``*_kernel`` / ``kalman_*``
functions below (no backtrader), which ``once`` applies to whole arrays and ``next`` to the
last window, so both engine modes compute the same numbers.
"""
from __future__ import annotations

import array
import logging
import math
import warnings
from typing import NamedTuple

import backtrader as bt
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

log = logging.getLogger(__name__)

HEDGE_MODES = ("ols", "kalman")


# -- kernels (no backtrader) ----------------------------------------------------------------
def rolling_ols(x: np.ndarray, y: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Slope and intercept of ``y = alpha + beta * x`` over each window of ``period`` bars.

    Returns arrays of length ``len(x) - period + 1``; window k ends at bar ``k + period - 1``.
    Centred sums avoid the cancellation of ``sum(x*y) - n*mean(x)*mean(y)`` on price levels.
    A window with constant ``x`` gives NaN.
    """
    xw = sliding_window_view(np.asarray(x, dtype=float), period)
    yw = sliding_window_view(np.asarray(y, dtype=float), period)
    mx, my = xw.mean(axis=1), yw.mean(axis=1)
    dx = xw - mx[:, None]
    sxx = np.einsum("ij,ij->i", dx, dx)
    sxy = np.einsum("ij,ij->i", dx, yw - my[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = np.where(sxx > 0.0, sxy / np.where(sxx > 0.0, sxx, 1.0), np.nan)
    return beta, my - beta * mx


def rolling_zscore(values: np.ndarray, period: int) -> np.ndarray:
    """``(v - mean) / std`` over each window of ``period`` (sample std, ddof=1; NaN if flat)."""
    w = sliding_window_view(np.asarray(values, dtype=float), period)
    mean = w.mean(axis=1)
    dev = w - mean[:, None]
    std = np.sqrt(np.einsum("ij,ij->i", dev, dev) / (period - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(std > 0.0, (w[:, -1] - mean) / np.where(std > 0.0, std, 1.0), np.nan)


class KalmanState(NamedTuple):
    """Posterior mean ``(beta, alpha)`` and covariance ``[[p00, p01], [p01, p11]]``."""

    beta: float
    alpha: float
    p00: float
    p01: float
    p11: float


KALMAN_START = KalmanState(0.0, 0.0, 0.0, 0.0, 0.0)


def kalman_step(s: KalmanState, x: float, y: float, wvar: float, obs_var: float) -> KalmanState:
    """One predict/update of the random-walk regression ``y = beta * x + alpha + e``.

    Predict: ``R = P + wvar * I``. Update with ``F = [x, 1]``: ``q = F R F' + obs_var``,
    ``e = y - F theta``, ``K = R F' / q``, ``theta += K e``, ``P = R - K F R``.
    A NaN input leaves the state unchanged.
    """
    if math.isnan(x) or math.isnan(y):
        return s
    r00, r01, r11 = s.p00 + wvar, s.p01, s.p11 + wvar
    rf0, rf1 = r00 * x + r01, r01 * x + r11  # R F'
    q = x * rf0 + rf1 + obs_var
    err = y - (s.beta * x + s.alpha)
    k0, k1 = rf0 / q, rf1 / q
    return KalmanState(
        s.beta + k0 * err, s.alpha + k1 * err, r00 - k0 * rf0, r01 - k0 * rf1, r11 - k1 * rf1
    )


def coint_test(y: np.ndarray, x: np.ndarray, trend: str = "c", maxlag: int | None = None,
               autolag: str | None = "aic") -> tuple[float, float]:
    """Engle-Granger ``(t-statistic, p-value)`` from ``statsmodels.tsa.stattools.coint``.

    A window where either series is constant gives ``(nan, nan)``; statsmodels' collinearity
    warning (near-perfect fit) is silenced, the test result is still returned.
    """
    from statsmodels.tools.sm_exceptions import CollinearityWarning
    from statsmodels.tsa.stattools import coint

    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    if np.ptp(y) == 0.0 or np.ptp(x) == 0.0 or not (np.isfinite(y).all() and np.isfinite(x).all()):
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollinearityWarning)
        tstat, pvalue, _ = coint(y, x, trend=trend, maxlag=maxlag, autolag=autolag)
    return float(tstat), float(pvalue)


# -- helpers --------------------------------------------------------------------------------
def _check_int(name: str, value: int, low: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _write(dst, start: int, values: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """Copy ``values`` into a line buffer's ``array.array`` from index ``start``."""
    dst[start:start + len(values)] = array.array("d", np.asarray(values, dtype=float))


def _check_same_length(ind: bt.Indicator) -> None:
    n0, n1 = ind.data0.buflen(), ind.data1.buflen()
    if n0 != n1:
        raise ValueError(
            f"{type(ind).__name__}: data0 has {n0} bars and data1 has {n1}; the two legs must share "
            "their timestamps. Fix: btedge.feeds.panel.align_frames([(name, df0), (name, df1)])"
        )


def _check_same_bar(ind: bt.Indicator) -> None:
    """In ``next``: both legs must have the same bar count and (feeds) the same timestamp."""
    if len(ind.data0) != len(ind.data1):
        raise ValueError(
            f"{type(ind).__name__}: data0 has {len(ind.data0)} bars so far and data1 {len(ind.data1)}; "
            "the two legs must share their timestamps. Fix: btedge.feeds.panel.align_frames(...)"
        )
    dt0, dt1 = getattr(ind.data0, "datetime", None), getattr(ind.data1, "datetime", None)
    if dt0 is not None and dt1 is not None and dt0[0] != dt1[0]:
        raise ValueError(
            f"{type(ind).__name__}: data0 is at {bt.num2date(dt0[0])} and data1 at {bt.num2date(dt1[0])}; "
            "the two legs must share their timestamps. Fix: btedge.feeds.panel.align_frames(...)"
        )


def _check_hedge_params(p) -> None:  # type: ignore[no-untyped-def]
    if p.mode not in HEDGE_MODES:
        raise ValueError(f"mode must be one of {HEDGE_MODES}, got {p.mode!r}")
    _check_int("period", p.period, 2)
    if not 0.0 < p.delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {p.delta!r}")
    if not p.obs_var > 0.0:
        raise ValueError(f"obs_var must be > 0, got {p.obs_var!r}")


# -- indicators -----------------------------------------------------------------------------
class HedgeRatio(bt.Indicator):
    """
    Hedge ratio of ``y`` (data0) on ``x`` (data1): ``y ~ alpha + beta * x``.

    ``mode='ols'``: ordinary least squares with intercept over the last ``period`` bars
    (bar t included). ``mode='kalman'``: a Kalman filter on the state ``[beta, alpha]``, a random
    walk with covariance ``delta / (1 - delta) * I`` observed through ``y = beta * x + alpha + e``,
    ``var(e) = obs_var``; the state starts at zero with zero covariance, so let it burn in.

    Formula:
      - ols: beta = sum((x - mean x)(y - mean y)) / sum((x - mean x)^2); alpha = mean y - beta * mean x
      - kalman: R = P + delta/(1-delta) I; q = F R F' + obs_var; theta += R F' / q * (y - F theta);
        P = R - R F' F R / q, with F = [x, 1]

    Params:
      - ``period`` (default: ``60``): OLS window in bars (>= 2); ignored by the Kalman filter
      - ``mode`` (default: ``'ols'``): ``'ols'`` or ``'kalman'``
      - ``delta`` (default: ``1e-4``): Kalman state drift, in (0, 1); larger adapts faster
      - ``obs_var`` (default: ``1e-3``): Kalman observation noise variance, > 0

    See:
      - Engle, Granger, "Co-integration and error correction", Econometrica 55 (1987)
      - Chan, *Algorithmic Trading*, Wiley, 2013, ch. 3 (Kalman filter hedge ratio)

    Plotting: only ``beta`` is drawn (its own subplot, labelled with the mode and the window);
    ``alpha`` is in price units, on another scale: draw it on its own axis with
    ``bt.LinePlotterIndicator(hedge.alpha, name="alpha", subplot=True)`` in the strategy.
    """

    alias = ("PairHedgeRatio",)
    lines = ("beta", "alpha")
    params = (("period", 60), ("mode", "ols"), ("delta", 1e-4), ("obs_var", 1e-3))
    plotinfo = dict(subplot=True, plotname="HedgeRatio")
    plotlines = dict(alpha=dict(_plotskip=True))
    _mindatas = 2

    def _plotlabel(self) -> list:
        return [self.p.mode, self.p.period] if self.p.mode == "ols" else [self.p.mode, self.p.delta]

    def __init__(self) -> None:
        _check_hedge_params(self.p)
        self._wvar = self.p.delta / (1.0 - self.p.delta)
        self._state = KALMAN_START
        if self.p.mode == "ols":
            self.addminperiod(self.p.period)

    def next(self) -> None:
        _check_same_bar(self)
        if self.p.mode == "kalman":
            self._state = kalman_step(self._state, self.data1[0], self.data0[0], self._wvar, self.p.obs_var)
            self.lines.beta[0], self.lines.alpha[0] = self._state.beta, self._state.alpha
            return
        n = self.p.period
        beta, alpha = rolling_ols(self.data1.get(size=n), self.data0.get(size=n), n)
        self.lines.beta[0], self.lines.alpha[0] = beta[0], alpha[0]

    def once(self, start: int, end: int) -> None:
        _check_same_length(self)
        y, x = self.data0.array, self.data1.array
        out_b, out_a = self.lines.beta.array, self.lines.alpha.array
        if self.p.mode == "kalman":
            s, wvar, ov = self._state, self._wvar, self.p.obs_var
            for i in range(start, end):
                s = kalman_step(s, x[i], y[i], wvar, ov)
                out_b[i], out_a[i] = s.beta, s.alpha
            self._state = s
            return
        n = self.p.period
        lo = start - n + 1
        beta, alpha = rolling_ols(np.asarray(x[lo:end]), np.asarray(y[lo:end]), n)
        _write(out_b, start, beta)
        _write(out_a, start, alpha)


class Spread(bt.Indicator):
    """
    Spread of a pair with the hedge ratio known at bar t: ``y - beta * x - alpha``.

    The hedge ratio is :class:`HedgeRatio` with the same params; ``lag=1`` uses the ratio
    estimated up to the previous bar (a spread not fitted on its own bar).

    Formula:
      - spread = y - beta(-lag) * x - alpha(-lag)

    Params:
      - ``period``, ``mode``, ``delta``, ``obs_var``: as :class:`HedgeRatio`
      - ``lag`` (default: ``0``): bars between the hedge-ratio estimate and the spread (>= 0)

    See:
      - Vidyamurthy, *Pairs Trading: Quantitative Methods and Analysis*, Wiley, 2004, ch. 5
    """

    alias = ("PairSpread",)
    lines = ("spread",)
    params = (("period", 60), ("mode", "ols"), ("delta", 1e-4), ("obs_var", 1e-3), ("lag", 0))
    plotinfo = dict(subplot=True, plothlines=[0.0])
    _mindatas = 2

    def _plotlabel(self) -> list:
        return [self.p.mode, self.p.period if self.p.mode == "ols" else self.p.delta, f"lag {self.p.lag}"]

    def __init__(self) -> None:
        _check_int("lag", self.p.lag, 0)
        p = self.p
        self.hedge = HedgeRatio(self.data0, self.data1, period=p.period, mode=p.mode, delta=p.delta,
                                obs_var=p.obs_var, plot=False)
        beta, alpha = self.hedge.beta, self.hedge.alpha
        if p.lag:
            beta, alpha = beta(-p.lag), alpha(-p.lag)
        self.lines.spread = self.data0 - beta * self.data1 - alpha


class ZScore(bt.Indicator):
    """
    Rolling z-score of the :class:`Spread` of ``y`` (data0) and ``x`` (data1).

    The inner ``self.spread`` is internal: in ``runonce`` mode backtrader advances only the
    indicators a strategy created itself, so a strategy that needs the spread or the hedge
    ratio bar by bar creates its own :class:`Spread` / :class:`HedgeRatio`.

    Formula:
      - z = (spread - mean(spread, period)) / std(spread, period), sample std (ddof=1);
        NaN where the window is flat

    Params:
      - ``period`` (default: ``20``): z-score window in bars (>= 2)
      - ``hedge_period`` (default: ``60``), ``mode``, ``delta``, ``obs_var``, ``lag``: passed to
        :class:`Spread` as ``period``, ``mode``, ``delta``, ``obs_var``, ``lag``

    See:
      - Gatev, Goetzmann, Rouwenhorst, "Pairs trading: performance of a relative-value arbitrage
        rule", Review of Financial Studies 19 (2006)
    """

    alias = ("PairZScore",)
    lines = ("zscore",)
    params = (("period", 20), ("hedge_period", 60), ("mode", "ols"), ("delta", 1e-4),
              ("obs_var", 1e-3), ("lag", 0))
    plotinfo = dict(subplot=True, plothlines=[-2.0, 0.0, 2.0])
    _mindatas = 2

    def _plotlabel(self) -> list:
        return [self.p.period, self.p.mode]

    def __init__(self) -> None:
        _check_int("period", self.p.period, 2)
        p = self.p
        self.spread = Spread(self.data0, self.data1, period=p.hedge_period, mode=p.mode,
                             delta=p.delta, obs_var=p.obs_var, lag=p.lag, plot=False)
        self.addminperiod(self.spread._minperiod + p.period - 1)

    def qbuffer(self, savemem: int = 0) -> None:
        super().qbuffer(savemem=savemem)
        self.spread.lines.spread.minbuffer(self.p.period)  # next() reads a whole window

    def next(self) -> None:
        n = self.p.period
        self.lines.zscore[0] = rolling_zscore(self.spread.lines.spread.get(size=n), n)[0]

    def once(self, start: int, end: int) -> None:
        n = self.p.period
        src = np.asarray(self.spread.lines.spread.array[start - n + 1:end], dtype=float)
        _write(self.lines.zscore.array, start, rolling_zscore(src, n))


class Cointegration(bt.Indicator):
    """
    Rolling Engle-Granger cointegration test of ``y`` (data0) on ``x`` (data1).

    ``statsmodels.tsa.stattools.coint`` runs on the last ``period`` closes of both legs at the
    first bar with a full window and then every ``retest`` bars; the result is held in between
    (a test is costly: about a millisecond per hundred bars).

    Formula:
      - tstat, pvalue = coint(y[-period+1..0], x[-period+1..0], trend, maxlag, autolag)
        on test bars, where test bars are the first full window and every ``retest`` bars after

    Params:
      - ``period`` (default: ``250``): window in bars (>= 20)
      - ``retest`` (default: ``20``): bars between tests (>= 1)
      - ``trend`` (default: ``'c'``): deterministic terms of the cointegrating regression
        (``'n'``, ``'c'``, ``'ct'``, ``'ctt'``)
      - ``maxlag`` (default: ``None``): ADF lags; ``None`` lets statsmodels choose the maximum
      - ``autolag`` (default: ``'aic'``): lag selection (``'aic'``, ``'bic'``, ``'t-stat'`` or
        ``None`` for exactly ``maxlag``)

    See:
      - Engle, Granger, "Co-integration and error correction", Econometrica 55 (1987)
      - MacKinnon, "Critical values for cointegration tests", Queen's University WP 1227 (2010)

    Plotting: only ``pvalue`` is drawn (0 to 1, a line at 0.05); ``tstat`` is on another scale:
    draw it with ``bt.LinePlotterIndicator(coint.tstat, name="tstat", subplot=True)``.
    """

    alias = ("EngleGranger",)
    lines = ("pvalue", "tstat")
    params = (("period", 250), ("retest", 20), ("trend", "c"), ("maxlag", None), ("autolag", "aic"))
    plotinfo = dict(subplot=True, plothlines=[0.05], plotyticks=[0.0, 0.05, 0.5, 1.0])
    plotlines = dict(tstat=dict(_plotskip=True))
    _mindatas = 2

    def _plotlabel(self) -> list:
        return [self.p.period]

    def __init__(self) -> None:
        p = self.p
        _check_int("period", p.period, 20)
        _check_int("retest", p.retest, 1)
        if p.trend not in ("n", "c", "ct", "ctt"):
            raise ValueError(f"trend must be one of 'n', 'c', 'ct', 'ctt', got {p.trend!r}")
        if p.autolag not in ("aic", "bic", "t-stat", None):
            raise ValueError(f"autolag must be 'aic', 'bic', 't-stat' or None, got {p.autolag!r}")
        if p.maxlag is not None:
            _check_int("maxlag", p.maxlag, 0)
        self.addminperiod(p.period)
        self._last = (math.nan, math.nan)

    def _is_test_bar(self, i: int) -> bool:
        return (i - (self._minperiod - 1)) % self.p.retest == 0

    def _test(self, y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
        return coint_test(y, x, self.p.trend, self.p.maxlag, self.p.autolag)

    def next(self) -> None:
        _check_same_bar(self)
        if self._is_test_bar(len(self) - 1):
            n = self.p.period
            self._last = self._test(np.asarray(self.data0.get(size=n)), np.asarray(self.data1.get(size=n)))
        self.lines.tstat[0], self.lines.pvalue[0] = self._last

    def once(self, start: int, end: int) -> None:
        _check_same_length(self)
        n = self.p.period
        y, x = self.data0.array, self.data1.array
        out_p, out_t = self.lines.pvalue.array, self.lines.tstat.array
        last = self._last
        for i in range(start, end):
            if self._is_test_bar(i):
                last = self._test(np.asarray(y[i - n + 1:i + 1]), np.asarray(x[i - n + 1:i + 1]))
            out_t[i], out_p[i] = last
        self._last = last
