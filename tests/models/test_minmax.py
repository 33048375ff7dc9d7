"""Min-max CNN: windows scaled by their own range only (a planted future extreme moves nothing
before it), the positive control, and the member inside EnsembleSignal."""
from __future__ import annotations

import numpy as np
import pytest

from btedge.indicators.ml import EnsembleSignal
from btedge.models.features import sequence_windows
from btedge.models.minmax import minmax_windows
from btedge.models.spec import ModelSpec, build_model
from btedge.testkit import assert_modes_agree, assert_no_lookahead
from tests.support.btc import btc
from tests.support.planted_bars import positive_control

L, K = 8, 150  # window length; bar of the planted extreme


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _series_and_planted(n: int = 200):
    x = np.random.default_rng(0).standard_normal((n, 3))
    planted = x.copy()
    planted[K] = [50.0, -50.0, 50.0]  # a future extreme
    return x, planted


def test_each_window_spans_minus_one_to_one_by_its_own_range():
    x, _ = _series_and_planted()
    w = minmax_windows(sequence_windows(x, np.arange(L - 1, len(x)), L))
    np.testing.assert_allclose(w.min(axis=1), -1.0)
    np.testing.assert_allclose(w.max(axis=1), 1.0)
    assert (minmax_windows(np.ones((2, L, 3))) == 0).all()  # a flat column maps to 0


def test_a_planted_future_extreme_moves_nothing_before_it():
    x, planted = _series_and_planted()
    rows = np.arange(L - 1, len(x))
    before, after = (minmax_windows(sequence_windows(s, rows, L)) for s in (x, planted))
    early = rows < K
    np.testing.assert_array_equal(after[early], before[early])
    assert not np.array_equal(after[rows == K], before[rows == K])
    # the frame-wide scaling this replaces would have moved every earlier window
    frame = [(s - s.min(axis=0)) / (s.max(axis=0) - s.min(axis=0)) for s in (x, planted)]
    assert not np.array_equal(*(sequence_windows(f, rows[early], L) for f in frame))


@pytest.mark.parametrize("kind", ["minmax_cnn", "minmax_cnn2d"])
def test_trained_member_outputs_before_the_extreme_do_not_move_and_z_scaling_is_undone(kind):
    x, planted = _series_and_planted()
    rows = np.arange(L - 1, K + 20)
    model = build_model(ModelSpec(kind=kind, seq_len=L, hidden=4, epochs=2), 3)
    model.fit(sequence_windows(x, rows, L), rows % 3, np.empty((0, L, 3)), np.empty(0))
    early = rows < K
    p = model.predict(sequence_windows(x, rows, L))
    np.testing.assert_array_equal(model.predict(sequence_windows(planted, rows, L))[early], p[early])
    np.testing.assert_allclose(model.predict(sequence_windows(x * 3.0 + 7.0, rows, L)), p, atol=1e-9)


def test_positive_control_reaches_080_balanced_accuracy_out_of_sample():
    assert positive_control(ModelSpec(kind="minmax_cnn", seq_len=8, hidden=16, epochs=30)) >= 0.8


@pytest.mark.slow
def test_image_variant_positive_control_reaches_080_balanced_accuracy_out_of_sample():
    assert positive_control(ModelSpec(kind="minmax_cnn2d", seq_len=8, hidden=8, epochs=30)) >= 0.8


SMALL = dict(train_bars=300, retrain_every=100, seq_len=12, hidden=8, epochs=2, min_samples=50)


def member(cache):
    return lambda s: EnsembleSignal(s.data, members="minmax_cnn,minmax_cnn2d", cache_dir=str(cache), **SMALL)


@pytest.mark.slow
def test_member_modes_agree_and_no_lookahead(tmp_path):
    lines = assert_modes_agree(btc(500), member(tmp_path))
    assert np.isfinite(lines["p_long"][300:]).all()
    assert_no_lookahead(btc(500), member(tmp_path), cuts=[301, 302, 401, 402])


@pytest.mark.slow
def test_issue10_positive_control_on_planted_features(tmp_path):
    """The shared harness of the issue "ML you can believe": a linear score of the newest row."""
    from btedge.training.validation import balanced_accuracy
    from tests.support.planted import planted_features, planted_labels, walk

    X = planted_features(1000)
    y = planted_labels(X)
    _, out = walk("minmax_cnn", X, y, str(tmp_path), seq_len=32)
    assert balanced_accuracy(out[700:].argmax(axis=1), y[700:]) >= 0.8
