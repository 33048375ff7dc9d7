"""Shared fixtures. Helpers live in ``tests/support/`` (``from tests.support.shared import
require_shared``); no test module imports another test module."""
from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.shared import require_shared


def pytest_configure(config: pytest.Config) -> None:
    """The Ctrl-C tests send SIGINT to btedge processes and to the test process itself. A shell
    that starts the suite in the background (``make test &``, ``nohup``) ignores SIGINT, and an
    ignored signal is inherited by every child: put Python's handler back, so those tests test
    btedge and not how the suite was started (children then start with the default action)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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
