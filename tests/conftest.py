"""Shared fixtures: the ../shared data folder (skip when absent, fail under BTEDGE_REQUIRE_SHARED=1)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_DATA = SHARED / "data"


def require_shared(*relpaths: str) -> Path:
    """Path under ../shared/data; skips (or fails when BTEDGE_REQUIRE_SHARED=1) if absent."""
    path = SHARED_DATA.joinpath(*relpaths) if relpaths else SHARED_DATA
    if not path.exists():
        msg = f"{path} not found: the ../shared data folder sits beside the project checkout"
        if os.environ.get("BTEDGE_REQUIRE_SHARED") == "1":
            pytest.fail(msg + " (BTEDGE_REQUIRE_SHARED=1)")
        pytest.skip(msg)
    return path


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder."""
    return require_shared()


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach a remote host: only loopback connections are allowed."""
    import socket

    real_connect = socket.socket.connect

    def guarded(self, address):  # type: ignore[no-untyped-def]
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
