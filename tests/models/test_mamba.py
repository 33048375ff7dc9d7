"""Selective SSM (Mamba-style) member: causal blocks, positive controls, state_dict round trip,
and the member inside EnsembleSignal passes the mode and truncation checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from btedge.indicators.ml import EnsembleSignal
from btedge.models.mamba import MambaBlock
from btedge.models.spec import ModelSpec, build_model
from btedge.testkit import assert_modes_agree, assert_no_lookahead
from tests.support.btc import btc
from tests.support.planted_bars import positive_control

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_block_is_causal_and_selective():
    torch.manual_seed(0)
    block = MambaBlock(8).double()
    u = torch.randn(2, 20, 8, dtype=torch.float64)
    later = u.clone()
    later[:, 12:] += 5.0
    with torch.no_grad():
        a, b = block(u), block(later)
    torch.testing.assert_close(a[:, :12], b[:, :12], atol=0, rtol=0)
    assert not torch.allclose(a[:, 12:], b[:, 12:])
    # selective: the step size depends on the input (an LTI SSM's would not)
    x = torch.randn(1, 5, block.d_inner, dtype=torch.float64)
    delta = torch.nn.functional.softplus(block.dt_proj(block.x_proj(x)[..., : block.dt_rank]))
    assert delta.std(dim=1).max() > 0


def test_weights_round_trip_through_a_state_dict(tmp_path):
    spec = ModelSpec(kind="mamba", seq_len=6, hidden=4, layers=1, epochs=1)
    x = np.random.default_rng(0).standard_normal((60, 6, 3))
    y = np.arange(60) % 3
    a = build_model(spec, 3)
    a.fit(x, y, x[:0], y[:0])
    a.save(tmp_path)
    b = build_model(spec, 3)
    b.load(tmp_path)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


@pytest.mark.slow
def test_positive_control_reaches_080_balanced_accuracy_out_of_sample():
    assert positive_control(ModelSpec(kind="mamba", seq_len=8, hidden=8, layers=1, epochs=15)) >= 0.8


def test_issue10_positive_control_on_planted_features(tmp_path):
    from btedge.training.validation import balanced_accuracy
    from tests.support.planted import planted_features, planted_labels, walk

    X = planted_features(1000)
    y = planted_labels(X)
    _, out = walk("mamba", X, y, str(tmp_path), seq_len=8, hidden=8, layers=1, epochs=15)
    assert balanced_accuracy(out[700:].argmax(axis=1), y[700:]) >= 0.8


SMALL = dict(train_bars=300, retrain_every=100, seq_len=8, hidden=4, epochs=2, min_samples=50)


@pytest.mark.slow
def test_member_modes_agree_and_no_lookahead(tmp_path):
    make = lambda s: EnsembleSignal(s.data, members="mamba", cache_dir=str(tmp_path), **SMALL)  # noqa: E731
    lines = assert_modes_agree(btc(500), make)
    assert np.isfinite(lines["p_long"][300:]).all()
    assert_no_lookahead(btc(500), make, cuts=[301, 302, 401])
