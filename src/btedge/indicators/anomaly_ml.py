"""Walk-forward isolation-forest anomaly indicator."""
from __future__ import annotations

import numpy as np

from btedge.indicators.ml import WalkForwardIndicator
from btedge.models.features import ANOMALY_FEATURES
from btedge.models.spec import ModelSpec

__all__ = ["IsolationForestAnomaly"]


class IsolationForestAnomaly(WalkForwardIndicator):
    """
    Isolation-forest anomaly score of each bar's rolling return / volatility features, refit
    walk-forward on the training slice of each fold (scaler included).

    Formula:
      - features: ret0, lorentz = log(1 + (r_t - r_{t-1})^2), vol(20), vol(5)/vol(60),
        (high - low) / close, log volume vs its 20-bar mean; standardised with the training
        slice's mean and std
      - score = -score_samples(x) (higher = more anomalous; about 0.5 for ordinary bars)
      - flag = 1 when score > the (1 - contamination) quantile of the training rows' scores

    Params (plus :class:`~btedge.indicators.ml.WalkForwardIndicator`'s; ``seq_len``,
    ``hidden``, ``epochs`` and ``horizon`` are unused except through the embargo):
      - ``contamination`` (default: ``0.02``): share of training rows above the flag threshold
      - ``n_estimators`` (default: ``100``): trees

    See:
      - Liu, Ting & Zhou (2008), "Isolation Forest", ICDM
    """

    alias = ("IForestAnomaly",)
    lines = ("score", "flag")
    params = (("contamination", 0.02), ("n_estimators", 100))
    plotinfo = dict(subplot=True)
    _feature_columns = ANOMALY_FEATURES
    _label_params = ("contamination", "horizon")

    def _setup(self) -> None:
        spec = ModelSpec(kind="iforest", seed=self.p.seed, n_estimators=int(self.p.n_estimators),
                         contamination=float(self.p.contamination))
        self.walkers.append(self._walker(spec, None))

    def _n_out(self, spec: ModelSpec) -> int:
        return 2

    def _combine(self, fitted, outputs) -> np.ndarray:
        return outputs[0]
