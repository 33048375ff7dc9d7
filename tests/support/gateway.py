"""Fixtures and helpers for tests against the fake IB gateway, run once per client library.

Stable API (other live tests build on it):

- ``ib_lib``: the client module, ``ib_insync`` or ``ib_async`` (parametrised: every test that
  uses it runs with both). It also sets ``BTEDGE_IB_CLIENT`` to that name for the test.
- ``gateway_bars`` / ``gateway_options``: override these fixtures in a test module to change the
  scripted bars (anything ``load_bars`` takes) or pass ``FakeGateway``/``GatewayConfig`` options
  (``history=``, ``server_version=``, ``auto_fill=``, ``commission_timing=``, ``symbol=``…).
- ``fake_gateway``: a started :class:`btedge.testkit.fakegateway.FakeGateway` on 127.0.0.1 and a
  free port (``fake_gateway.port``); stopped after the test.
- ``ib``: an ``ib_lib.IB()`` connected to it with ``clientId=1`` (sync ``connect``), disconnected
  after the test.
- ``wait``: ``wait(predicate, timeout=3.0)`` pumps the ``ib`` client's loop until ``predicate()``
  is true (AssertionError after ``timeout``); ``wait_until(ib, predicate)`` is the same for any
  client. Bars for scripts: ``btedge.testkit.fakegateway.random_walk_bars`` (``make_bars`` here).
- ``time_limit``: opt-in per-test wall-clock bound (``pytestmark = pytest.mark.usefixtures("time_limit")``).
"""
from __future__ import annotations

import importlib
import signal
import time
from types import ModuleType
from typing import Any, Callable, Iterator

import pytest

from btedge.testkit.fakegateway import Bar, FakeGateway, random_walk_bars

IB_LIBS = ("ib_insync", "ib_async")
START_EPOCH = 1_735_828_200  # 2025-01-02 14:30:00 UTC, a US session open
TEST_TIME_LIMIT_S = 30


def make_bars(n: int = 60, start: int = START_EPOCH, seconds: int = 60, price: float = 100.0,
              seed: int = 7) -> list[Bar]:
    """A deterministic random walk of ``n`` bars, ``seconds`` apart, starting at ``start`` (UTC)."""
    return random_walk_bars(n, start, seconds, price, seed)


def wait_until(ib: Any, predicate: Callable[[], object], timeout: float = 3.0, what: str = "") -> None:
    """Run the client's event loop until ``predicate()`` is truthy; fail after ``timeout`` s.

    A ``ConnectionError`` raised out of the loop (ib_insync does that when the socket drops while
    it runs) is swallowed: the predicate decides.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        try:
            ib.sleep(0.01)
        except ConnectionError:
            pass


@pytest.fixture(params=IB_LIBS)
def ib_lib(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The IB client library under test (ib_insync or ib_async)."""
    module = importlib.import_module(request.param)
    monkeypatch.setenv("BTEDGE_IB_CLIENT", request.param)
    return module


@pytest.fixture
def gateway_bars() -> list[Bar]:
    """Scripted bars of the gateway's main instrument (SPY): 60 one-minute bars."""
    return make_bars(60)


@pytest.fixture
def gateway_options() -> dict[str, Any]:
    """Extra ``FakeGateway`` keyword arguments; by default 40 of the 60 bars have happened."""
    return {"history": 40}


@pytest.fixture
def fake_gateway(gateway_bars: list[Bar], gateway_options: dict[str, Any]) -> Iterator[FakeGateway]:
    """A running fake gateway on 127.0.0.1 and a free port."""
    options = {"symbol": "SPY", **gateway_options}
    gateway = FakeGateway(bars=gateway_bars, **options).start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture
def ib(ib_lib: ModuleType, fake_gateway: FakeGateway) -> Iterator[Any]:
    """An ``IB`` of the library under test, connected to the fake gateway as clientId 1."""
    client = ib_lib.IB()
    client.connect("127.0.0.1", fake_gateway.port, clientId=1, timeout=5)
    try:
        yield client
    finally:
        client.disconnect()


@pytest.fixture
def wait(ib: Any) -> Callable[..., None]:
    """``wait(predicate, timeout=3.0, what="")``: ``wait_until`` bound to the ``ib`` fixture."""
    return lambda predicate, timeout=3.0, what="": wait_until(ib, predicate, timeout, what)


@pytest.fixture
def time_limit() -> Iterator[None]:
    """Fail a test that runs longer than ``TEST_TIME_LIMIT_S`` seconds (POSIX main thread only)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"test exceeded its {TEST_TIME_LIMIT_S} s limit")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, TEST_TIME_LIMIT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
