"""A protocol-level fake IB gateway (TWS API over a loopback socket) for tests and dry runs.

The unmodified ib_insync and ib_async clients connect to it as to TWS: it negotiates server
versions 157..176, answers the start-up sync, serves scripted bars (historical, keepUpToDate,
5-second real-time bars), qualifies contracts, keeps orders, executions, positions and a paper
account, and exposes a control API for fills, rejects, cancels, errors and connection faults.
Standard library only. See ``docs/fake_gateway.md``.
"""
from __future__ import annotations

from .bars import Bar, BarDataError, BarScript, load_bars, random_walk_bars
from .contracts import Instrument, crypto, forex, future, instrument_for, stock
from .control import FakeGateway
from .orders import CommissionModel, Execution, Order, Position
from .protocol import MAX_SERVER_VERSION, MIN_SERVER_VERSION, ClientMessage
from .server import GatewayConfig, GatewayServer

__all__ = [
    "Bar", "BarDataError", "BarScript", "ClientMessage", "CommissionModel", "Execution", "FakeGateway",
    "GatewayConfig", "GatewayServer", "Instrument", "MAX_SERVER_VERSION", "MIN_SERVER_VERSION", "Order",
    "Position", "crypto", "random_walk_bars", "forex", "future", "instrument_for", "load_bars", "stock",
]
