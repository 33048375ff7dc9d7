"""S4D member: FFT convolution equals the recurrence, streaming equals batch, the positive
control learns, and the member passes the mode and truncation checks inside EnsembleSignal."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from btedge.indicators.ml import EnsembleSignal
from btedge.models.features import sequence_windows
from btedge.models.s4d import S4DKernel, S4DNet, kernel_length
from btedge.models.spec import ModelSpec, build_model
from btedge.testkit import assert_modes_agree, assert_no_lookahead
from tests.support.btc import btc
from tests.support.planted_bars import positive_control

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _recurrent(layer: S4DKernel, u: torch.Tensor) -> torch.Tensor:
    """The textbook loop x_t = Abar x_{t-1} + Bbar u_t (minus the tap leaving the window)."""
    dta, bbar, c = layer.discrete()
    abar, drop = torch.exp(dta), torch.exp(dta * layer.length) * bbar
    x = torch.zeros_like(bbar)
    out = []
    for t in range(u.shape[-1]):
        old = u[:, t - layer.length] if t >= layer.length else torch.zeros(u.shape[0])
        x = abar * x + bbar * u[:, t, None] - drop * old[:, None]
        out.append(2.0 * (c * x).real.sum(dim=1) + layer.d * u[:, t])
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("init", ["lin", "inv"])
def test_fft_convolution_equals_the_recurrent_loop_in_float32(init):
    torch.manual_seed(1)
    layer = S4DKernel(8, 16, length=200, init=init)
    u = torch.randn(8, 600)
    with torch.no_grad():
        conv = layer(u[None])[0]
        loop = _recurrent(layer, u)
    assert conv.dtype == torch.float32
    assert (conv - loop).abs().max().item() <= 1e-5


def test_kernel_spans_the_window_and_no_more():
    assert kernel_length(33, 2) == 17 and kernel_length(1000, 4) == 250
    assert S4DNet(3, 4, 4, 1000).receptive_field == 997
    with pytest.raises(ValueError, match="seq_len >= layers \\+ 1"):
        kernel_length(3, 4)


def test_streamed_windows_equal_the_batch_and_a_gap_resets_without_replay():
    model = build_model(ModelSpec(kind="s4d", seq_len=21, hidden=8, layers=4), 5)
    x = np.random.default_rng(0).standard_normal((200, 5))
    windows = sequence_windows(x, np.arange(20, 200), 21)
    batch = model.predict(windows)  # one FFT pass over the fold's series
    per_window = torch.softmax(model._inference_net()(torch.as_tensor(windows)), 1).detach().numpy()
    order = list(range(0, 90)) + list(range(120, 180))  # a jump at 90 -> 120 forces a reset
    streamed = np.vstack([model.predict(windows[i : i + 1]) for i in order])
    np.testing.assert_allclose(per_window, batch, atol=1e-12)
    np.testing.assert_allclose(streamed, batch[order], atol=1e-10)


def test_weights_round_trip_through_a_state_dict(tmp_path):
    spec = ModelSpec(kind="s4d", seq_len=9, hidden=4, layers=2, epochs=1)
    x = np.random.default_rng(2).standard_normal((60, 9, 3))
    y = np.arange(60) % 3
    a = build_model(spec, 3)
    a.fit(x, y, x[:0], y[:0])
    a.save(tmp_path)
    b = build_model(spec, 3)
    b.load(tmp_path)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_positive_control_reaches_080_balanced_accuracy_out_of_sample():
    assert positive_control(ModelSpec(kind="s4d", seq_len=16, hidden=8, layers=2, epochs=10)) >= 0.8


SMALL = dict(train_bars=300, retrain_every=100, seq_len=12, hidden=8, epochs=2, min_samples=50)


def s4d_member(cache):
    return lambda s: EnsembleSignal(s.data, members="s4d", cache_dir=str(cache), **SMALL)


@pytest.mark.slow
def test_member_modes_agree_and_no_lookahead(tmp_path):
    lines = assert_modes_agree(btc(500), s4d_member(tmp_path))
    assert np.isnan(lines["p_long"][:300]).all() and np.isfinite(lines["p_long"][300:]).all()
    assert_no_lookahead(btc(500), s4d_member(tmp_path), cuts=[301, 302, 350, 401, 402])


@pytest.mark.slow
def test_issue10_positive_control_on_planted_features(tmp_path):
    """The shared harness of the issue "ML you can believe": a linear score of the newest row."""
    from btedge.training.validation import balanced_accuracy
    from tests.support.planted import planted_features, planted_labels, walk

    X = planted_features(1000)
    y = planted_labels(X)
    _, out = walk("s4d", X, y, str(tmp_path), hidden=8, epochs=15)
    assert balanced_accuracy(out[700:].argmax(axis=1), y[700:]) >= 0.8
