"""Dual momentum over many datas, with an optional walk-forward XGBoost momentum score."""
from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field

import backtrader as bt
import numpy as np

from btedge.kernels import laguerre_filter_series
from btedge.strategies.registry import register
from btedge.training.schedule import Schedule

log = logging.getLogger(__name__)

SCORES = ("momentum", "xgboost")
WEIGHTINGS = ("equal", "inverse_vol")
FEATURES = ("momentum", "momentum_short", "slope", "rsi", "laguerre_accel", "volatility")
RSI_PERIOD = 14


# -- features (pure numpy; row t uses closes up to t only) -----------------------------------
def momentum_features(close: np.ndarray, lookback: int, gamma: float = 0.5) -> np.ndarray:
    """The :data:`FEATURES` of one asset at the last bar of ``close`` (needs lookback + 1 bars).

    - momentum: ``close[-1] / close[-1 - lookback] - 1``
    - momentum_short: the same over ``lookback // 4`` bars
    - slope: least-squares slope of log close over the last ``lookback`` bars, per bar
    - rsi: Cutler's RSI of the last 14 log returns, in [0, 1]
    - laguerre_accel: second difference of a Laguerre filter (``gamma``, seeded at the window's
      first close) over the last ``lookback`` bars, divided by the last close
    - volatility: standard deviation of the last ``lookback`` log returns
    """
    c = np.asarray(close[-(lookback + 1):], dtype=float)
    logc = np.log(c)
    r = np.diff(logc)
    short = max(1, lookback // 4)
    t = np.arange(lookback, dtype=float)
    slope = np.polyfit(t, logc[1:], 1)[0]
    gains, losses = np.clip(r[-RSI_PERIOD:], 0, None).sum(), np.clip(-r[-RSI_PERIOD:], 0, None).sum()
    rsi = gains / (gains + losses) if gains + losses > 0 else 0.5
    lf = laguerre_filter_series(c[1:], gamma)
    accel = (lf[-1] - 2.0 * lf[-2] + lf[-3]) / c[-1]
    return np.array([c[-1] / c[0] - 1.0, c[-1] / c[-1 - short] - 1.0, slope, rsi, accel, r.std()])


def outperformance_labels(prices: np.ndarray, horizon: int) -> np.ndarray:
    """(k, n) labels from (k, n) closes at rebalance dates: 1 when an asset's return over the next
    ``horizon`` rebalances beats the cross-sectional median, else 0; NaN where not yet known or
    where a price is missing (an asset not yet listed)."""
    prices = np.asarray(prices, dtype=float)
    out = np.full(prices.shape, np.nan)
    if len(prices) > horizon:
        fwd = prices[horizon:] / prices[:-horizon] - 1.0
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
            median = np.nanmedian(fwd, axis=1, keepdims=True)
            out[:-horizon] = np.where(np.isfinite(fwd), (fwd > median).astype(float), np.nan)
    return out


@dataclass
class MLState:
    """What the XGBoost score has seen: features and closes per rebalance, and each training."""

    features: list[np.ndarray] = field(default_factory=list)
    prices: list[np.ndarray] = field(default_factory=list)
    model: object | None = None
    trainings: list[tuple[int, int, int]] = field(default_factory=list)  # (k, first j, last j)
    loaded: int = 0  # fold models read from the cache instead of trained


@register("dual_momentum")
class DualMomentum(bt.Strategy):
    """
    Dual momentum (relative + absolute) rotation over all datas, rebalanced every ``rebalance`` bars.

    At each rebalance (bar closes, ``[0]`` and past values only; orders fill at the next open):

      1. score every asset of the universe (all datas except ``cash_proxy`` and ``exclude``):
         ``score='momentum'`` is the ``lookback``-bar return; ``score='xgboost'`` is a walk-forward
         XGBoost probability that the asset beats the universe median over the next ``horizon``
         rebalances (features: :data:`FEATURES`), the plain momentum until the first model exists
      2. keep the ``top`` best scores (relative momentum)
      3. absolute momentum: a pick whose ``lookback`` return is not above ``threshold`` (and not
         above the cash proxy's return, when one is named) gives its slot to the cash proxy, or
         to cash without one
      4. slot weights are equal or proportional to 1/volatility of the picks, scaled to
         ``fraction`` of the portfolio; ``order_target_percent`` sells first, then buys

    The XGBoost model is retrained every ``retrain_every`` rebalances once ``train_min``
    rebalances exist (``btedge.training.Schedule`` in rebalance units, expanding window, embargo
    ``horizon + 1``): the model used at rebalance k only saw labels whose horizon ended before k.
    Trees need no scaler; the seed and ``n_jobs=1`` make it deterministic. With ``cache_dir``
    each fold model is stored as xgboost UBJ in a ``btedge.training.ModelCache`` keyed by the
    params, the fold and a fingerprint of its training rows, and re-runs load it (nothing pickled).

    Params:
      - ``lookback`` (default: ``252``): momentum window in bars (>= 20)
      - ``top`` (default: ``3``): number of assets held (>= 1)
      - ``rebalance`` (default: ``21``): bars between rebalances (>= 1)
      - ``threshold`` (default: ``0.0``): minimum lookback return to hold a risky asset
      - ``cash_proxy`` (default: ``''``): name of the data held instead of cash (e.g. ``CSJ``)
      - ``exclude`` (default: ``''``): comma-separated data names left out of the universe
      - ``weighting`` (default: ``'equal'``): ``'equal'`` or ``'inverse_vol'``
      - ``vol_period`` (default: ``63``): bars of log returns for the volatility (>= 5)
      - ``fraction`` (default: ``0.95``): share of the portfolio invested, (0, 1]
      - ``score`` (default: ``'momentum'``): ``'momentum'`` or ``'xgboost'``
      - ``horizon`` (default: ``1``): label horizon in rebalances
      - ``train_min`` (default: ``12``): rebalances before the first model
      - ``retrain_every`` (default: ``3``): rebalances between retrains
      - ``n_estimators`` (default: ``60``), ``max_depth`` (default: ``3``), ``seed`` (default: ``0``)
      - ``cache_dir`` (default: ``''``): fold-model cache folder; empty trains in memory only
      - ``verbose`` (default: ``False``): log rebalances at INFO instead of DEBUG

    See:
      - Antonacci, *Dual Momentum Investing*, McGraw-Hill, 2014
      - Jegadeesh, Titman, "Returns to buying winners and selling losers", J. Finance 48 (1993)
    """

    params = (
        ("lookback", 252),
        ("top", 3),
        ("rebalance", 21),
        ("threshold", 0.0),
        ("cash_proxy", ""),
        ("exclude", ""),
        ("weighting", "equal"),
        ("vol_period", 63),
        ("fraction", 0.95),
        ("score", "momentum"),
        ("horizon", 1),
        ("train_min", 12),
        ("retrain_every", 3),
        ("n_estimators", 60),
        ("max_depth", 3),
        ("seed", 0),
        ("cache_dir", ""),
        ("verbose", False),
    )

    def __init__(self) -> None:
        self._validate()
        names = [d._name for d in self.datas]
        excluded = {s.strip() for s in self.p.exclude.split(",") if s.strip()}
        for name in excluded | ({self.p.cash_proxy} if self.p.cash_proxy else set()):
            if name not in names:
                raise ValueError(f"dual_momentum: no data named {name!r}; datas are {', '.join(names)}")
        self.proxy = self.getdatabyname(self.p.cash_proxy) if self.p.cash_proxy else None
        self.universe = [d for d in self.datas if d is not self.proxy and d._name not in excluded]
        if len(self.universe) < self.p.top:
            raise ValueError(f"top={self.p.top} but the universe has {len(self.universe)} datas")
        self.need = max(self.p.lookback, self.p.vol_period) + 1
        self.ml = MLState()
        self.schedule = (Schedule(train_bars=self.p.train_min, retrain_every=self.p.retrain_every,
                                  horizon=self.p.horizon) if self.p.score == "xgboost" else None)
        self.rebalances: list[dict[str, float]] = []  # target weights per rebalance
        self.rebalance_bars: list[int] = []  # the bar (0-based) of each rebalance

    def _validate(self) -> None:
        p = self.p
        for name, low in (("lookback", 20), ("top", 1), ("rebalance", 1), ("vol_period", 5), ("horizon", 1),
                          ("retrain_every", 1), ("n_estimators", 1), ("max_depth", 1)):
            value = getattr(p, name)
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if p.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {p.weighting!r}")
        if p.score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {p.score!r}")
        if not 0.0 < p.fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {p.fraction!r}")
        if not isinstance(p.train_min, int) or p.train_min <= p.horizon + 1:
            raise ValueError(f"train_min must be an integer > horizon + 1 = {p.horizon + 1}, got {p.train_min!r}")

    # -- schedule ----------------------------------------------------------------------------
    def next(self) -> None:
        i = len(self) - 1
        if i < self.need - 1 or (i - (self.need - 1)) % self.p.rebalance:
            return
        weights = self.target_weights(len(self.rebalances))
        self.rebalances.append(weights)
        self.rebalance_bars.append(i)
        self._order(weights)

    prenext = next  # trade before late-listed datas start; they are not ranked until ready

    # -- decisions ---------------------------------------------------------------------------
    def _closes(self, d: bt.feeds.DataBase) -> np.ndarray:
        return np.asarray(d.close.get(size=self.need), dtype=float)

    def _ready(self, d: bt.feeds.DataBase) -> bool:
        """Enough history for every feature (a data listed later than the others may not have it)."""
        return len(d) >= self.need

    def qbuffer(self, savemem: int = 0, replaying: bool = False) -> None:
        """With ``exactbars`` backtrader keeps only what indicators declared; the scores read
        ``need`` bars of each close directly, so keep that many."""
        super().qbuffer(savemem, replaying)
        for d in self.datas:
            d.minbuffer(self.need)

    def _lookback_return(self, d: bt.feeds.DataBase) -> float:
        """The ``lookback``-bar return; ``-inf`` for a data without enough history yet."""
        if not self._ready(d):
            return -math.inf
        return d.close[0] / d.close[-self.p.lookback] - 1.0

    def target_weights(self, k: int) -> dict[str, float]:
        """{data name: target fraction of the portfolio} for rebalance ``k``."""
        scores = self.scores(k)
        ranked = sorted(range(len(self.universe)), key=lambda n: (-scores[n], n))[: self.p.top]
        picks = [self.universe[n] for n in ranked]
        slots = self._slot_weights(picks)
        hurdle = self.p.threshold
        if self.proxy is not None and self._ready(self.proxy):
            hurdle = max(hurdle, self._lookback_return(self.proxy))
        weights: dict[str, float] = {}
        for d, w in zip(picks, slots):
            ret = self._lookback_return(d)
            holder = d if ret > hurdle else self.proxy
            if holder is not None:
                weights[holder._name] = weights.get(holder._name, 0.0) + w * self.p.fraction
        self._log("rebalance %d: %s", k, ", ".join(f"{n}={w:.3f}" for n, w in weights.items()) or "all cash")
        return weights

    def _slot_weights(self, picks: list) -> list[float]:
        if self.p.weighting == "equal":
            return [1.0 / len(picks)] * len(picks)
        vols = []
        for d in picks:
            if not self._ready(d):
                vols.append(math.nan)
                continue
            r = np.diff(np.log(self._closes(d)[-(self.p.vol_period + 1):]))
            vols.append(float(r.std()))
        inv = np.array([1.0 / v if v > 0 else 0.0 for v in vols])
        return (inv / inv.sum()).tolist() if inv.sum() > 0 else [1.0 / len(picks)] * len(picks)

    def scores(self, k: int) -> np.ndarray:
        """Ranking score of each universe asset at rebalance ``k`` (higher is better)."""
        momentum = np.array([self._lookback_return(d) for d in self.universe])
        if self.schedule is None:
            return momentum
        blank = np.full(len(FEATURES), np.nan)
        feats = np.vstack([momentum_features(self._closes(d), self.p.lookback) if self._ready(d) else blank
                           for d in self.universe])
        self.ml.features.append(feats)
        self.ml.prices.append(np.array([d.close[0] if self._ready(d) else np.nan for d in self.universe]))
        if self.schedule.is_boundary(k):
            self._train(k)
        if self.ml.model is None:
            return momentum
        proba = self.ml.model.predict_proba(feats)[:, 1]
        return np.where(np.isfinite(momentum), proba, -math.inf)

    def _train(self, k: int) -> None:
        fold = self.schedule.fold(k)
        labels = outperformance_labels(np.vstack(self.ml.prices), self.p.horizon)
        rows = range(fold.train_start, fold.train_stop)
        if rows.stop + self.p.horizon - 1 >= k:  # the last label must be known before k
            raise AssertionError(f"training at rebalance {k} would use a label ending at {rows.stop - 1 + self.p.horizon}")
        x = np.vstack([self.ml.features[j] for j in rows])
        y = np.concatenate([labels[j] for j in rows])
        ok = np.isfinite(y)
        if len(np.unique(y[ok])) < 2:
            return
        self.ml.model = self._cached_fit(k, x[ok], y[ok])
        self.ml.trainings.append((k, rows.start, rows.stop - 1))
        self._log("rebalance %d: trained on rebalances %d..%d (%d rows)", k, rows.start, rows.stop - 1, int(ok.sum()))

    def _model_params(self) -> dict:
        return dict(n_estimators=self.p.n_estimators, max_depth=self.p.max_depth, learning_rate=0.1,
                    random_state=self.p.seed, n_jobs=1, tree_method="hist", eval_metric="logloss")

    def _cached_fit(self, k: int, x: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
        """Fit the fold model, or load it from ``cache_dir`` when the same fold was trained before."""
        from xgboost import XGBClassifier

        model = XGBClassifier(**self._model_params())
        if not self.p.cache_dir:
            return model.fit(x, y)
        from btedge.training.cache import ModelCache, cache_key, fingerprint

        cache = ModelCache(self.p.cache_dir)
        spec = {"model": "dual_momentum.xgboost", "features": list(FEATURES), "horizon": self.p.horizon,
                "lookback": self.p.lookback, **self._model_params()}
        key = cache_key(spec, k, fingerprint(x, y))
        path = cache.folder(key) / "model.ubj"
        if cache.has(key):
            model.load_model(path)
            self.ml.loaded += 1
            return model
        model.fit(x, y)
        cache.new_folder(key)
        model.save_model(path)
        cache.write_meta(key, {"fold": k, "rows": int(len(y)), "features": list(FEATURES)})
        return model

    # -- orders ------------------------------------------------------------------------------
    def _order(self, weights: dict[str, float]) -> None:
        value = self.broker.getvalue()
        moves = []
        for d in self.datas:
            target = weights.get(d._name, 0.0)
            size = self.getposition(d).size
            current = size * d.close[0] / value if size and value > 0 else 0.0
            if target or current:
                moves.append((target - current, d, target))
        for _, d, target in sorted(moves, key=lambda m: m[0]):  # sells first, then buys
            self.order_target_percent(data=d, target=target)

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Margin, order.Rejected):
            log.warning("%s: %s order on %s was %s (not enough cash at the fill price?)", self._now(),
                        "BUY" if order.isbuy() else "SELL", order.data._name, order.getstatusname())

    def _now(self) -> str:
        started = [d for d in self.datas if len(d)]
        return bt.num2date(max(d.datetime[0] for d in started)).isoformat(sep=" ") if started else "-"

    def _log(self, msg: str, *args: object) -> None:
        level = logging.INFO if self.p.verbose else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, "%s " + msg, self._now(), *args)
