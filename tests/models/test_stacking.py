"""Stacked meta-learner: learns which member to trust from out-of-fold probabilities only,
never reads in-sample rows or labels whose horizon has not passed, and is calibrated."""
from __future__ import annotations

import numpy as np
import pytest

from btedge.models.stacking import calibration_report, soft_vote, stack_walk_forward

N, H = 1500, 3
BOUNDS = list(range(300, N, 200))


def _members(seed: int = 0):
    """One informative member (right 70% of the time), two uninformative ones."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, N).astype(float)
    good = np.full((N, 3), 0.15)
    right = rng.random(N) < 0.7
    good[np.arange(N), np.where(right, y, (y + 1) % 3).astype(int)] = 0.7
    noise = [rng.dirichlet(np.ones(3), N) for _ in range(2)]
    probs = [good, *noise]
    for p in probs:
        p[:BOUNDS[0]] = np.nan  # no out-of-sample output before the first fold
    return probs, y


@pytest.mark.parametrize("method", ["logistic", "forest"])
def test_stacked_beats_the_soft_vote_when_one_member_is_informative(method):
    probs, y = _members()
    stacked = stack_walk_forward(probs, y, BOUNDS, H, method=method)
    assert np.isnan(stacked[: BOUNDS[1]]).all() and np.isfinite(stacked[BOUNDS[1]:]).all()
    report = calibration_report(y, {"stacked": stacked, "vote": soft_vote(probs)})
    assert report["stacked"]["log_loss"] < report["vote"]["log_loss"]
    assert report["stacked"]["balanced_accuracy"] >= 0.65
    assert report["stacked"]["ece"] < 0.1 and set(report["vote"]) == {"n", "balanced_accuracy", "log_loss", "brier", "ece"}


def test_in_sample_rows_are_never_read():
    probs, y = _members()
    ref = stack_walk_forward(probs, y, BOUNDS, H)
    tampered = [p.copy() for p in probs]
    for p in tampered:
        p[: BOUNDS[0]] = [1.0, 0.0, 0.0]  # the members' training bars: in-sample
    np.testing.assert_array_equal(stack_walk_forward(tampered, y, BOUNDS, H), ref)


@pytest.mark.parametrize("k", [1, 3])
def test_labels_not_yet_known_at_a_boundary_do_not_move_its_fold(k):
    probs, y = _members()
    ref = stack_walk_forward(probs, y, BOUNDS, H)
    b, stop = BOUNDS[k], BOUNDS[k + 1]
    y2 = y.copy()
    y2[b - H :] = (y2[b - H :] + 1) % 3  # labels whose horizon ends at or after b
    out = stack_walk_forward(probs, y2, BOUNDS, H)
    np.testing.assert_array_equal(out[:stop], ref[:stop])
    assert not np.allclose(out[stop:], ref[stop:], equal_nan=True)


def test_truncated_inputs_give_the_same_earlier_outputs():
    probs, y = _members()
    full = stack_walk_forward(probs, y, BOUNDS, H)
    for cut in (700, 901, 1100):
        short = stack_walk_forward([p[:cut] for p in probs], y[:cut], [b for b in BOUNDS if b < cut], H)
        np.testing.assert_allclose(short, full[:cut], atol=1e-12, rtol=0)  # BLAS batch size


def test_bad_method_is_one_clear_error():
    probs, y = _members()
    with pytest.raises(ValueError, match="method must be one of"):
        stack_walk_forward(probs, y, BOUNDS, H, method="stackingclassifier")
