"""Walk-forward XGBoost momentum score for cross-sectional rotation (no backtrader import).

At each rebalance k a strategy passes every asset's :func:`momentum_features` (row t uses closes
up to t only) and close. :class:`MomentumRanker` labels rebalance j's assets by whether their
return over the next ``horizon`` rebalances beats the cross-sectional median
(:func:`outperformance_labels`), retrains every ``retrain_every`` rebalances once ``train_min``
exist (a ``btedge.training.Schedule`` in rebalance units, expanding window, embargo ``horizon +
1``: the model used at rebalance k only saw labels whose horizon ended before k) and returns each
asset's probability of beating the median. Trees need no scaler; the seed and one thread make it
deterministic. Each fold model is stored as xgboost UBJ in a ``btedge.training.ModelCache`` keyed
by the params, the model code and library versions, the fold and a fingerprint of its training
rows, and re-runs load it (nothing pickled).
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from btedge.kernels import laguerre_filter_series
from btedge.models.persist import corrupt, read_head
from btedge.models.spec import MODEL_CODE_VERSION
from btedge.training.cache import ModelCache, cache_key, fingerprint, library_versions
from btedge.training.schedule import Schedule

log = logging.getLogger(__name__)

FEATURES = ("momentum", "momentum_short", "slope", "rsi", "laguerre_accel", "volatility")
RSI_PERIOD = 14


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


@dataclass(frozen=True)
class RankerSpec:
    """Params of :class:`MomentumRanker` (all in its cache key)."""

    lookback: int
    horizon: int = 1
    train_min: int = 12
    retrain_every: int = 3
    n_estimators: int = 60
    max_depth: int = 3
    seed: int = 0

    def model_params(self) -> dict:
        return dict(n_estimators=self.n_estimators, max_depth=self.max_depth, learning_rate=0.1,
                    random_state=self.seed, n_jobs=1, tree_method="hist", eval_metric="logloss")


class MomentumRanker:
    """Walk-forward XGBoost probability that each asset beats the universe median.

    Attributes: ``trainings`` ((k, first rebalance, last rebalance) per fold model) and
    ``loaded`` (fold models read from the cache instead of trained).
    """

    def __init__(self, spec: RankerSpec, cache_dir: str = "") -> None:
        self.spec = spec
        self.schedule = Schedule(train_bars=spec.train_min, retrain_every=spec.retrain_every, horizon=spec.horizon)
        self.cache = ModelCache(cache_dir)
        self.features: list[np.ndarray] = []
        self.prices: list[np.ndarray] = []
        self.model = None
        self.trainings: list[tuple[int, int, int]] = []
        self.loaded = 0

    def update(self, k: int, feats: np.ndarray, prices: np.ndarray) -> np.ndarray | None:
        """Record rebalance ``k`` (features (n, F), closes (n,)); retrain at a fold boundary; the
        probability per asset (None before the first model)."""
        self.features.append(feats)
        self.prices.append(prices)
        if self.schedule.is_boundary(k):
            self._train(k)
        return None if self.model is None else self.model.predict_proba(feats)[:, 1]

    def _train(self, k: int) -> None:
        fold = self.schedule.fold(k)
        labels = outperformance_labels(np.vstack(self.prices), self.spec.horizon)
        rows = range(fold.train_start, fold.train_stop)
        x = np.vstack([self.features[j] for j in rows])
        y = np.concatenate([labels[j] for j in rows])
        ok = np.isfinite(y)
        if len(np.unique(y[ok])) < 2:
            log.info("momentum ranker: rebalance %d not trained (one class only)", k)
            return
        self.model = self._cached_fit(k, x[ok], y[ok])
        self.trainings.append((k, rows.start, rows.stop - 1))
        log.debug("momentum ranker: rebalance %d trained on rebalances %d..%d (%d rows)", k, rows.start,
                  rows.stop - 1, int(ok.sum()))

    def _cached_fit(self, k: int, x: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
        """Fit the fold model, or load it when the same fold was trained before."""
        from xgboost import XGBClassifier
        from xgboost.core import XGBoostError

        model = XGBClassifier(**self.spec.model_params())
        params = {"model": "momentum_ranker.xgboost", "features": list(FEATURES), "spec": asdict(self.spec),
                  "code": {"btedge.models": MODEL_CODE_VERSION, **library_versions()}}
        key = cache_key(params, k, fingerprint(x, y))
        path = self.cache.folder(key) / "model.ubj"
        if self.cache.has(key):
            read_head(path, 1)
            try:
                model.load_model(path)
            except XGBoostError as exc:
                raise corrupt(path, "xgboost UBJ model", str(exc).split("Stack trace")[0].strip()) from None
            self.loaded += 1
            return model
        model.fit(x, y)
        self.cache.write_model(key, lambda folder: model.save_model(folder / "model.ubj"))
        self.cache.write_meta(key, {"fold": k, "rows": int(len(y)), "features": list(FEATURES)})
        return model
