"""Shared fixtures. Helpers live in ``tests/support/`` (``from tests.support.shared import
require_shared``); no test module imports another test module."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.shared import require_shared


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder (skips when absent, fails under BTEDGE_REQUIRE_SHARED=1)."""
    return require_shared()


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach a remote host: only loopback and unix-socket connections are allowed."""
    import socket

    real_connect = socket.socket.connect

    def guarded(self, address):  # type: ignore[no-untyped-def]
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
