"""KAN: B-spline bases, a small KAN fits sin(pi x1) + x2^2, the grid update keeps outputs,
edge plots, the positive control and the member inside EnsembleSignal."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from btedge.indicators.ml import EnsembleSignal
from btedge.models.kan import KAN, KANLinear, fit_regression, plot_edges
from btedge.models.spec import ModelSpec, build_model
from btedge.testkit import assert_modes_agree, assert_no_lookahead
from tests.support.btc import btc
from tests.support.planted_bars import positive_control

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_cubic_bases_sum_to_one_inside_the_grid_and_vanish_far_outside():
    layer = KANLinear(1, 1, grid_size=5)
    inside = layer.bases(torch.linspace(-1, 0.999, 50)[:, None]).sum(dim=-1)
    torch.testing.assert_close(inside, torch.ones_like(inside))
    assert layer.bases(torch.tensor([[2.5]])).abs().max() == 0


def _target(x: torch.Tensor) -> torch.Tensor:
    return (torch.sin(torch.pi * x[:, 0]) + x[:, 1] ** 2)[:, None]


@pytest.mark.slow
def test_fits_sin_pi_x1_plus_x2_squared_to_mse_1e3_with_at_most_500_parameters():
    torch.manual_seed(0)
    net = KAN([2, 3, 1], grid_size=5)
    assert sum(p.numel() for p in net.parameters()) <= 500
    x = torch.rand(1000, 2) * 2 - 1
    fit_regression(net, x, _target(x), steps=30, grid_updates=1)
    held_out = torch.rand(1000, 2) * 2 - 1
    with torch.no_grad():
        assert float(((net(held_out) - _target(held_out)) ** 2).mean()) <= 1e-3


@pytest.mark.parametrize("seed", [0, 1])
def test_grid_update_moves_knots_to_the_data_without_changing_outputs(seed):
    torch.manual_seed(seed)
    net = KAN([3, 4, 2], grid_size=5)
    x = (torch.rand(500, 3) ** 2) * 1.6 - 0.8  # skewed: most points near -0.8
    with torch.no_grad():
        before = net(x)
        net.update_grid(x, grid_size=20)
        after = net(x)
    grid = net.layers[0].grid
    assert grid.shape == (3, 20 + 2 * 3 + 1)
    median_knot = grid[:, 3 + 10]  # the middle knot of the 20 intervals sits at the data median
    torch.testing.assert_close(median_knot, x.median(dim=0).values, atol=0.02, rtol=0)
    assert (after - before).abs().max().item() <= 1e-4


def test_edge_functions_are_plotted_to_one_png_per_layer(tmp_path):
    torch.manual_seed(0)
    paths = plot_edges(KAN([2, 3, 1]), tmp_path, names=["x1", "x2"])
    assert [p.name for p in paths] == ["kan_layer0.png", "kan_layer1.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_weights_round_trip_through_a_state_dict(tmp_path):
    spec = ModelSpec(kind="kan", hidden=4, epochs=1)
    x = np.random.default_rng(0).standard_normal((90, 1, 5))
    y = np.arange(90) % 3
    a = build_model(spec, 5)
    a.fit(x, y, x[:0], y[:0])
    a.save(tmp_path)
    b = build_model(spec, 5)
    b.load(tmp_path)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_positive_control_reaches_080_balanced_accuracy_out_of_sample():
    assert positive_control(ModelSpec(kind="kan", hidden=4, epochs=10)) >= 0.8


SMALL = dict(train_bars=300, retrain_every=100, seq_len=12, hidden=4, epochs=2, min_samples=50)


def kan_member(cache):
    return lambda s: EnsembleSignal(s.data, members="kan,xgb", cache_dir=str(cache), **SMALL)


@pytest.mark.slow
def test_member_modes_agree_and_no_lookahead(tmp_path):
    lines = assert_modes_agree(btc(500), kan_member(tmp_path))
    assert np.isfinite(lines["p_long"][300:]).all()
    assert_no_lookahead(btc(500), kan_member(tmp_path), cuts=[301, 302, 401, 402])


def test_numpy_inference_equals_the_torch_net_in_float64():
    from btedge.models.kan import NumpyKAN

    torch.manual_seed(0)
    net = KAN([5, 4, 3])
    x = np.random.default_rng(0).standard_normal((50, 5)) * 1.5  # some rows beyond the grid
    with torch.no_grad():
        ref = net.double()(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(NumpyKAN(net)(x), ref, atol=1e-12, rtol=0)


def test_issue10_positive_control_on_planted_features(tmp_path):
    """The shared harness of the issue "ML you can believe": a linear score of the newest row."""
    from btedge.training.validation import balanced_accuracy
    from tests.support.planted import planted_features, planted_labels, walk

    X = planted_features(1000)
    y = planted_labels(X)
    _, out = walk("kan", X, y, str(tmp_path))
    assert balanced_accuracy(out[700:].argmax(axis=1), y[700:]) >= 0.8


def test_weights_of_another_size_are_one_clear_error(tmp_path):
    from btedge.models.persist import ModelFileError

    a = build_model(ModelSpec(kind="kan", hidden=4), 5)
    a.save(tmp_path)
    with pytest.raises(ModelFileError, match="model.pt"):
        build_model(ModelSpec(kind="kan", hidden=6), 5).load(tmp_path)
