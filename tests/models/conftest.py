"""Fixtures shared by the model tests."""
from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run the test on one torch thread (2 shared cores; deterministic reductions), then put the
    previous count back. Modules that train torch models use it through
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``; it is not autouse, so the numpy-
    and xgboost-only modules here neither import torch nor change its thread count."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
