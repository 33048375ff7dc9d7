"""Regime models: the forward filter equals hmmlearn's last posterior of each prefix, the
Markov-switching model's equals statsmodels' filtered probabilities, states sorted by variance,
JSON round trip."""
from __future__ import annotations

import numpy as np
import pytest

from btedge.models.regimes import RegimeModel, fit_hmm, fit_markov_switching, fit_regimes


def _two_regimes(n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vol = np.where((np.arange(n) // 100) % 2 == 0, 0.5, 2.0)
    return rng.standard_normal(n) * vol


def test_filtered_equals_hmmlearn_predict_proba_of_each_prefix():
    from hmmlearn.hmm import GaussianHMM

    x = _two_regimes()[:, None]
    hmm = GaussianHMM(n_components=3, covariance_type="diag", n_iter=30, random_state=0).fit(x)
    model = RegimeModel(hmm.startprob_, hmm.transmat_, hmm.means_, np.diagonal(hmm.covars_, axis1=1, axis2=2))
    filtered = model.filter(x)
    for t in (0, 1, 5, 99, 100, 101, 250, 399):
        np.testing.assert_allclose(filtered[t], hmm.predict_proba(x[: t + 1])[-1], atol=1e-10, rtol=0)


def test_states_are_sorted_by_variance_and_keep_their_identity_across_refits():
    r = _two_regimes(800)
    first, second = fit_hmm(r[:400, None], 2), fit_hmm(r[:800, None], 2, seed=3)
    for model in (first, second):
        assert model.variances[0, 0] < model.variances[1, 0]
        np.testing.assert_allclose(model.transmat.sum(axis=1), 1.0)
    calm = np.abs(r) < 0.3
    assert first.filter(r[:, None])[calm, 0].mean() > 0.6 and second.filter(r[:, None])[calm, 0].mean() > 0.6


def test_filtered_depends_on_past_bars_only():
    model = fit_hmm(_two_regimes()[:, None], 2)
    x = _two_regimes()[:, None]
    altered = x.copy()
    altered[200:] *= 5.0
    np.testing.assert_array_equal(model.filter(x)[:200], model.filter(altered)[:200])


def test_markov_switching_filter_equals_statsmodels_filtered_probabilities():
    import statsmodels.api as sm

    r = _two_regimes(300)
    model = fit_markov_switching(r, 2)
    res = sm.tsa.MarkovRegression(r, k_regimes=2, switching_variance=True).fit(disp=False)
    ref = np.asarray(res.filtered_marginal_probabilities)
    order = np.argsort(np.asarray(res.params)[-2:])  # sigma2[0], sigma2[1] -> calm first
    np.testing.assert_allclose(model.filter(r[:, None]), ref[:, order], atol=1e-6)


def test_json_round_trip_and_clear_errors():
    model = fit_regimes(_two_regimes()[:, None], "hmm", 2)
    again = RegimeModel.from_json(model.to_json())
    np.testing.assert_array_equal(again.filter(np.ones((3, 1))), model.filter(np.ones((3, 1))))
    with pytest.raises(ValueError, match="not a regime model's JSON"):
        RegimeModel.from_json("{}")
    with pytest.raises(ValueError, match="method must be one of"):
        fit_regimes(np.ones((50, 1)), "viterbi", 2)
