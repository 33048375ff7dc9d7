"""Market regimes: Gaussian hidden Markov models fitted walk-forward, read by the causal forward
filter only (no backtrader import).

A :class:`RegimeModel` holds the start probabilities, the row-stochastic transition matrix and
per-state Gaussian means and (diagonal) variances. It is fitted by hmmlearn's ``GaussianHMM``
(:func:`fit_hmm`) or by statsmodels' ``MarkovRegression`` with switching variance
(:func:`fit_markov_switching`; its Hamilton filter is the same forward recursion). States are
sorted by variance (state 0 the calmest), so a regime keeps its number across refits.

Only the forward filter is used::

    alpha_0 ∝ pi ⊙ b(x_0);   alpha_t ∝ (alpha_{t-1} A) ⊙ b(x_t)

``alpha_t = P(s_t | x_0..x_t)``: it never uses a later bar, unlike Viterbi paths or smoothed
(forward-backward) probabilities, which rewrite the past when new bars arrive. It equals the
last row of hmmlearn's ``predict_proba(X[:t+1])`` (tested to 1e-10). One update is a few
numpy operations on k states (:class:`RegimeFilter`).

Models are saved as JSON of their parameters (:meth:`RegimeModel.to_json`); nothing is pickled.

See:
  - Hamilton (1989), "A New Approach to the Economic Analysis of Nonstationary Time Series"
  - Rabiner (1989), "A Tutorial on Hidden Markov Models", the forward algorithm
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)
METHODS = ("hmm", "markov")


@dataclass(frozen=True)
class RegimeModel:
    """Gaussian HMM parameters: ``startprob`` (k,), ``transmat`` (k, k) rows sum to 1, ``means``
    and ``variances`` (k, d)."""

    startprob: np.ndarray
    transmat: np.ndarray
    means: np.ndarray
    variances: np.ndarray

    @property
    def n_states(self) -> int:
        return len(self.startprob)

    def ordered(self) -> RegimeModel:
        """The same model with states sorted by total variance (state 0 the calmest)."""
        order = np.argsort(self.variances.sum(axis=1), kind="stable")
        return RegimeModel(self.startprob[order], self.transmat[np.ix_(order, order)],
                           self.means[order], self.variances[order])

    def log_emission(self, x: np.ndarray) -> np.ndarray:
        """(k,) log densities of one observation x (d,) under each state."""
        z = (x - self.means) ** 2 / self.variances
        return -0.5 * (np.log(2.0 * math.pi * self.variances) + z).sum(axis=1)

    def filter(self, X: np.ndarray) -> np.ndarray:
        """(n, k) filtered probabilities P(s_t | x_0..x_t) of the rows of X (n, d)."""
        f = RegimeFilter(self)
        return np.array([f.update(x) for x in np.asarray(X, dtype=float)]).reshape(len(X), self.n_states)

    def to_json(self) -> str:
        return json.dumps({k: getattr(self, k).tolist() for k in ("startprob", "transmat", "means", "variances")})

    @classmethod
    def from_json(cls, text: str) -> RegimeModel:
        try:
            d = json.loads(text)
            model = cls(*(np.asarray(d[k], dtype=float) for k in ("startprob", "transmat", "means", "variances")))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a regime model's JSON ({exc})") from None
        k = model.n_states
        if model.transmat.shape != (k, k) or model.means.shape != model.variances.shape or len(model.means) != k:
            raise ValueError("regime model JSON with inconsistent shapes")
        return model


class RegimeFilter:
    """The forward filter, one bar at a time (scaled probabilities, log-domain emissions)."""

    def __init__(self, model: RegimeModel) -> None:
        self.model = model
        self.alpha: np.ndarray | None = None
        self._log_norm = -0.5 * np.log(2.0 * math.pi * model.variances).sum(axis=1)
        self._inv_var = 1.0 / model.variances

    def update(self, x: np.ndarray) -> np.ndarray:
        """Consume one observation (d,); return P(s_t | x_0..x_t) (k,)."""
        m = self.model
        logb = self._log_norm - 0.5 * (((x - m.means) ** 2) * self._inv_var).sum(axis=1)
        prior = m.startprob if self.alpha is None else self.alpha @ m.transmat
        w = prior * np.exp(logb - logb.max())
        self.alpha = w / w.sum()
        return self.alpha


def fit_hmm(X: np.ndarray, n_states: int = 2, seed: int = 0, n_iter: int = 100) -> RegimeModel:
    """Fit hmmlearn's diagonal ``GaussianHMM`` to the rows of X (n, d); states sorted by variance."""
    from hmmlearn.hmm import GaussianHMM

    hmm = GaussianHMM(n_components=n_states, covariance_type="diag", n_iter=n_iter, random_state=seed)
    hmm.fit(np.asarray(X, dtype=float))
    variances = np.diagonal(hmm.covars_, axis1=1, axis2=2).copy()
    return RegimeModel(hmm.startprob_.copy(), hmm.transmat_.copy(), hmm.means_.copy(), variances).ordered()


def fit_markov_switching(r: np.ndarray, n_states: int = 2) -> RegimeModel:
    """Fit statsmodels' ``MarkovRegression`` (switching mean and variance) to the series r (n,)."""
    import warnings

    import statsmodels.api as sm

    mod = sm.tsa.MarkovRegression(np.asarray(r, dtype=float), k_regimes=n_states, switching_variance=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of the optimiser
        res = mod.fit(disp=False)
    params = np.asarray(res.params)
    names = mod.param_names
    const = np.array([params[names.index(f"const[{i}]")] for i in range(n_states)])
    sigma2 = np.array([params[names.index(f"sigma2[{i}]")] for i in range(n_states)])
    transmat = mod.regime_transition_matrix(params)[:, :, 0].T  # statsmodels: P[to, from]
    start = np.asarray(mod.initial_probabilities(params), dtype=float)
    return RegimeModel(start, transmat, const[:, None], sigma2[:, None]).ordered()


def fit_regimes(X: np.ndarray, method: str, n_states: int, seed: int = 0) -> RegimeModel:
    """Dispatch on ``method`` (``'hmm'`` or ``'markov'``; the latter takes the first column)."""
    if method == "hmm":
        return fit_hmm(X, n_states, seed)
    if method == "markov":
        return fit_markov_switching(np.asarray(X)[:, 0], n_states)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")
