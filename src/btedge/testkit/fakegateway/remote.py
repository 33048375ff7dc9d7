"""Drive a fake gateway that lives in another process.

A real IB Gateway is a process of its own, and a client process may end and a new one connect.
:func:`serve_control` publishes a :class:`GatewayControl` (the picklable subset of the
:class:`~btedge.testkit.fakegateway.FakeGateway` control API) on a loopback
``multiprocessing`` manager; :func:`connect_control` gives another process a proxy to it.
:func:`spawn_gateway` starts a gateway in a fresh process and returns that proxy (the latency
benchmark uses it, so the gateway's Python never competes with the client's for one GIL).

Used by ``btedge.testkit.soak`` (strategy sessions as subprocesses, the gateway in the parent)
and ``bench/bench_live_latency.py`` (the gateway in a subprocess).
"""
from __future__ import annotations

import multiprocessing
import os
import secrets
import threading
import time
from multiprocessing.managers import BaseManager
from typing import Any, Callable

from .control import FakeGateway

AUTHKEY_ENV = "BTEDGE_FAKEGW_AUTHKEY"


class GatewayControl:
    """The control calls a client process needs, with picklable arguments and results."""

    def __init__(self, gateway: FakeGateway) -> None:
        self.gw = gateway

    def port(self) -> int:
        return self.gw.port

    def account(self) -> str:
        return self.gw.config.accounts[0]

    def push_bars(self, count: int = 1) -> int:
        return self.gw.push_bars(count)

    def push_timed(self) -> float:
        """Push one bar of every instrument; ``time.perf_counter()`` right after it was written
        (CLOCK_MONOTONIC on Linux: comparable across processes)."""
        return self.gw.call(lambda: (self.gw.server.push_bars(1), time.perf_counter())[1])

    def last_bar_time(self) -> float:
        """Epoch seconds of the main instrument's newest bar that has happened."""
        con_id = self.gw.instrument.con_id
        return float(self.gw.call(lambda: self.gw.server.scripts[con_id].last.time))

    def has_order(self, order_id: int, client_id: int) -> bool:
        try:
            self.gw.wait_for_order(order_id, client_id=client_id, timeout=0.0)
        except TimeoutError:
            return False
        return True

    def reject(self, order_id: int, client_id: int) -> None:
        self.gw.reject(order_id, client_id=client_id)

    def partial_fill(self, order_id: int, quantity: float, client_id: int) -> None:
        self.gw.partial_fill(order_id, quantity, client_id=client_id)

    def roll_back_next_valid_id(self, value: int, notify: bool = True) -> None:
        self.gw.roll_back_next_valid_id(value, notify=notify)

    def refuse_connections(self, seconds: float) -> None:
        self.gw.refuse_connections(seconds)

    def drop_connections(self) -> int:
        return self.gw.drop_connections()


def _manager_class() -> type[BaseManager]:
    return type("GatewayControlManager", (BaseManager,), {})  # a registry of its own per server


def serve_control(gateway: FakeGateway) -> tuple[tuple[str, int], bytes]:
    """Publish ``GatewayControl(gateway)`` on a loopback port from a daemon thread of this
    process (it serves until the process ends); returns (address, authkey) for
    :func:`connect_control`."""
    control = GatewayControl(gateway)
    manager = _manager_class()
    manager.register("control", callable=lambda: control)
    authkey = secrets.token_bytes(16)
    server = manager(address=("127.0.0.1", 0), authkey=authkey).get_server()
    threading.Thread(target=server.serve_forever, name="fake-gateway-control", daemon=True).start()
    return server.address, authkey


def connect_control(address: tuple[str, int], authkey: bytes) -> Any:
    """A proxy to the :class:`GatewayControl` another process serves."""
    manager = _manager_class()
    manager.register("control")
    client = manager(address=tuple(address), authkey=authkey)
    client.connect()
    return client.control()


def _serve(factory: Callable[[], FakeGateway], pipe: Any) -> None:
    gateway = factory().start()
    pipe.send(serve_control(gateway))
    pipe.recv()  # until the parent says stop (or goes away)
    gateway.stop()


class GatewayProcess:
    """A process in a fresh interpreter (``spawn``) that serves a fake gateway and talks over a
    pipe: ``target(*args, pipe)`` sends one message when it serves (``self.hello``) and ends on
    "stop". ``target`` and ``args`` must be picklable (module-level callables)."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self.process = context.Process(target=target, args=(*args, child), daemon=True)
        self.process.start()
        if not self._pipe.poll(60.0):
            self.process.kill()
            raise RuntimeError("the fake gateway process did not start within 60 s")
        self.hello: Any = self._pipe.recv()

    def stop(self) -> None:
        try:
            self._pipe.send("stop")
        except OSError:
            pass
        self.process.join(10.0)
        if self.process.is_alive():
            self.process.kill()


class SpawnedGateway(GatewayProcess):
    """A fake gateway in a fresh process (``spawn``): ``control`` is the proxy, ``port`` its port.
    ``factory`` must be a module-level callable returning an unstarted :class:`FakeGateway`."""

    def __init__(self, factory: Callable[[], FakeGateway]) -> None:
        super().__init__(_serve, factory)
        address, authkey = self.hello
        self.control = connect_control(address, authkey)
        self.port = self.control.port()


def spawn_gateway(factory: Callable[[], FakeGateway]) -> SpawnedGateway:
    """Start ``factory()``'s gateway in its own process (see :class:`SpawnedGateway`)."""
    return SpawnedGateway(factory)


def authkey_from_env() -> bytes:
    """The control authkey a parent handed to its child process in :data:`AUTHKEY_ENV` (hex)."""
    return bytes.fromhex(os.environ[AUTHKEY_ENV])
