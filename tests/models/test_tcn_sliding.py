"""The TCN's one-pass scoring of a fold's sliding windows equals scoring each window."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from btedge.models.torch_models import TCN, is_sliding


def sliding(series: np.ndarray, window: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(series, window, axis=0).transpose(0, 2, 1).copy()


@pytest.mark.parametrize("levels, window", [(2, 32), (3, 29), (3, 40)])
def test_one_pass_equals_per_window(levels, window):
    torch.manual_seed(0)
    net = TCN(n_features=5, hidden=8, levels=levels).double().eval()
    assert net.receptive_field <= window
    X = sliding(np.random.default_rng(1).standard_normal((300, 5)), window)
    assert is_sliding(X)
    with torch.no_grad():
        per_window = net(torch.as_tensor(X)).numpy()
        one_pass = net.forward_sliding(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(one_pass, per_window, rtol=0, atol=1e-12)


def test_windows_that_do_not_slide_are_detected():
    X = sliding(np.random.default_rng(2).standard_normal((100, 3)), 16)
    assert not is_sliding(X[::2]) and not is_sliding(X[:1]) and not is_sliding(X[::-1])
    shuffled = X.copy()
    shuffled[10, 0, 0] += 1.0
    assert not is_sliding(shuffled)


def test_receptive_field_larger_than_window_would_differ():
    """Why predict() checks the receptive field: past it, windows see their zero padding."""
    torch.manual_seed(0)
    net = TCN(n_features=4, hidden=8, levels=4).double().eval()  # receptive field 61
    X = sliding(np.random.default_rng(3).standard_normal((200, 4)), 32)
    with torch.no_grad():
        assert not np.allclose(net.forward_sliding(torch.as_tensor(X)).numpy(), net(torch.as_tensor(X)).numpy())
