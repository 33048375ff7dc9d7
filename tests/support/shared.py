"""Where the tests find ../shared/data: skip when absent, fail under ``BTEDGE_REQUIRE_SHARED=1`` (CI)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The shared market-data folder: ``$BTEDGE_SHARED`` or ``../shared`` beside the checkout.
SHARED = Path(os.environ.get("BTEDGE_SHARED", Path(__file__).resolve().parents[3] / "shared"))


def require_shared(*parts: str) -> Path:
    """Path under ``shared/data``. Skips the calling test when absent, or fails it when
    ``BTEDGE_REQUIRE_SHARED=1`` (CI), so a missing data folder can never pass silently."""
    path = SHARED.joinpath("data", *parts)
    if not path.exists():
        msg = f"{path} not found: the shared data folder sits beside the project checkout"
        if os.environ.get("BTEDGE_REQUIRE_SHARED") == "1":
            pytest.fail(msg + " (BTEDGE_REQUIRE_SHARED=1)")
        pytest.skip(msg)
    return path
