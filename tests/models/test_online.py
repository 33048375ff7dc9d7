"""Online learner: labels learned only after their horizon, journal persistence replays the
exact model, the member's positive control."""
from __future__ import annotations

import numpy as np
import pytest

from btedge.models.online import OnlineClassifier, OnlineLearner
from btedge.models.spec import ModelSpec, build_model
from tests.support.planted_bars import positive_control


def _stream(target: str, horizon: int, n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((n, 4))
    labels = (rows[:, 0] > 0).astype(float) * 2 if target == "class" else rows[:, 0] * 0.01
    return rows, labels


@pytest.mark.parametrize("target", ["class", "return"])
@pytest.mark.parametrize("horizon", [1, 5])
def test_a_label_is_learned_only_once_its_horizon_has_passed(target, horizon):
    rows, labels = _stream(target, horizon)
    learner = OnlineLearner(target, horizon, 4)
    asked: list[tuple[int, int]] = []
    t_now = 0

    def label_of(s: int) -> float:
        asked.append((t_now, s))
        return labels[s]

    for t_now in range(len(rows)):
        learner.step(t_now, rows[t_now], label_of)
    assert asked and all(t - s >= horizon for t, s in asked)
    assert [s for _, s in asked] == list(range(len(rows) - horizon))  # each once, in order
    assert learner.n_learned == len(rows) - horizon


def test_predictions_before_t_do_not_change_when_later_labels_change():
    rows, labels = _stream("class", 3)
    altered = labels.copy()
    altered[200:] = 2 - altered[200:]
    runs = []
    for lab in (labels, altered):
        learner = OnlineLearner("class", 3, 4)
        runs.append(np.array([learner.step(t, rows[t], lambda s, lab=lab: lab[s]) for t in range(len(rows))]))
    np.testing.assert_array_equal(runs[0][:203], runs[1][:203])  # label 200 is learned at bar 203
    assert not np.array_equal(runs[0][203:], runs[1][203:])


@pytest.mark.parametrize("target", ["class", "return"])
def test_journal_round_trip_replays_the_same_model(target, tmp_path):
    rows, labels = _stream(target, 1)
    a = OnlineLearner(target, 1, 4)
    for r, y in zip(rows[:200], labels[:200]):
        a.learn(r, y)
    a.save(tmp_path / "j.npy")
    b = OnlineLearner(target, 1, 4)
    b.load(tmp_path / "j.npy")
    for r in rows[200:]:
        np.testing.assert_array_equal(a.predict(r), b.predict(r))


def test_a_corrupt_journal_is_one_clear_error(tmp_path):
    (tmp_path / "j.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="j.npy: unreadable online-learner journal.*delete it"):
        OnlineLearner("class", 1, 4).load(tmp_path / "j.npy")


def test_member_saves_a_journal_not_a_pickle(tmp_path):
    rows, labels = _stream("class", 1)
    model = build_model(ModelSpec(kind="online"), 4)
    assert isinstance(model, OnlineClassifier)
    model.fit(rows[:200, None, :], labels[:200], rows[:0, None, :], labels[:0])
    model.save(tmp_path)
    assert np.load(tmp_path / "journal.npy", allow_pickle=False).shape == (200, 5)
    other = build_model(ModelSpec(kind="online"), 4)
    other.load(tmp_path)
    np.testing.assert_array_equal(model.predict(rows[200:, None, :]), other.predict(rows[200:, None, :]))


def test_positive_control_reaches_080_balanced_accuracy_out_of_sample():
    assert positive_control(ModelSpec(kind="online")) >= 0.8


def test_issue10_positive_control_on_planted_features(tmp_path):
    """The shared harness of the issue "ML you can believe": a linear score of the newest row."""
    from btedge.training.validation import balanced_accuracy
    from tests.support.planted import planted_features, planted_labels, walk

    X = planted_features(1000)
    y = planted_labels(X)
    _, out = walk("online", X, y, str(tmp_path))
    assert balanced_accuracy(out[700:].argmax(axis=1), y[700:]) >= 0.8


def test_kan_partial_fit_journal_replays_the_same_model(tmp_path):
    rows, labels = _stream("class", 1)
    a = OnlineLearner("class", 1, 4, lr=0.01, model="kan")
    for r, y in zip(rows[:100], labels[:100]):
        a.learn(r, y)
    a.save(tmp_path / "j.npy")
    b = OnlineLearner("class", 1, 4, lr=0.01, model="kan")
    b.load(tmp_path / "j.npy")
    for r in rows[100:120]:
        np.testing.assert_array_equal(a.predict(r), b.predict(r))


@pytest.mark.slow
def test_member_modes_agree_and_no_lookahead(tmp_path):
    from btedge.indicators.ml import EnsembleSignal
    from btedge.testkit import assert_modes_agree, assert_no_lookahead
    from tests.support.btc import btc

    small = dict(train_bars=300, retrain_every=100, seq_len=12, hidden=4, epochs=2, min_samples=50)

    def make(s):
        return EnsembleSignal(s.data, members="online", cache_dir=str(tmp_path), **small)

    lines = assert_modes_agree(btc(500), make)
    assert np.isnan(lines["p_long"][:300]).all() and np.isfinite(lines["p_long"][300:]).all()
    assert_no_lookahead(btc(500), make, cuts=[300, 301, 302, 401, 402])
