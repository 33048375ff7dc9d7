"""TWS socket protocol: framing, the connect handshake, message-id tables, client-message decoding.

Pure functions and small data classes, no I/O. The layouts follow the decoders and request
methods of ib_insync 0.9.86 and ib_async 2.1.0 (``client.py`` / ``decoder.py``) at server
versions 157..176; see ``docs/fake_gateway.md`` and ``../shared/docs/IB_PROTOCOL.md`` §3.

Wire format: after the raw ``b"API\\0"`` magic, every message in both directions is a 4-byte
big-endian length followed by NUL-terminated UTF-8 fields; field 0 is the message id.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Iterable, Sequence

MIN_SERVER_VERSION = 157
MAX_SERVER_VERSION = 176
API_MAGIC = b"API\0"
UNSET_INTEGER = 2**31 - 1
UNSET_DOUBLE = 1.7976931348623157e308
_LENGTH = struct.Struct(">I")
MAX_FRAME_BYTES = 16 * 1024 * 1024


class ProtocolError(ValueError):
    """A peer sent bytes that do not follow the TWS socket protocol."""


class In(IntEnum):
    """Client → server message ids (the ones the fake understands)."""

    REQ_MKT_DATA = 1
    CANCEL_MKT_DATA = 2
    PLACE_ORDER = 3
    CANCEL_ORDER = 4
    REQ_OPEN_ORDERS = 5
    REQ_ACCOUNT_UPDATES = 6
    REQ_EXECUTIONS = 7
    REQ_IDS = 8
    REQ_CONTRACT_DETAILS = 9
    REQ_AUTO_OPEN_ORDERS = 15
    REQ_ALL_OPEN_ORDERS = 16
    REQ_MANAGED_ACCTS = 17
    REQ_HISTORICAL_DATA = 20
    CANCEL_HISTORICAL_DATA = 25
    REQ_CURRENT_TIME = 49
    REQ_REAL_TIME_BARS = 50
    CANCEL_REAL_TIME_BARS = 51
    REQ_GLOBAL_CANCEL = 58
    REQ_MARKET_DATA_TYPE = 59
    REQ_POSITIONS = 61
    REQ_ACCOUNT_SUMMARY = 62
    CANCEL_ACCOUNT_SUMMARY = 63
    CANCEL_POSITIONS = 64
    START_API = 71
    REQ_ACCOUNT_UPDATES_MULTI = 76
    CANCEL_ACCOUNT_UPDATES_MULTI = 77
    REQ_HEAD_TIMESTAMP = 87
    REQ_PNL = 92
    CANCEL_PNL = 93
    REQ_COMPLETED_ORDERS = 99


class Out(IntEnum):
    """Server → client message ids (the ones the fake emits)."""

    TICK_PRICE = 1
    TICK_SIZE = 2
    ORDER_STATUS = 3
    ERR_MSG = 4
    OPEN_ORDER = 5
    ACCT_VALUE = 6
    PORTFOLIO_VALUE = 7
    ACCT_UPDATE_TIME = 8
    NEXT_VALID_ID = 9
    CONTRACT_DATA = 10
    EXECUTION_DATA = 11
    MANAGED_ACCTS = 15
    HISTORICAL_DATA = 17
    CURRENT_TIME = 49
    REAL_TIME_BARS = 50
    CONTRACT_DATA_END = 52
    OPEN_ORDER_END = 53
    ACCT_DOWNLOAD_END = 54
    EXECUTION_DATA_END = 55
    MARKET_DATA_TYPE = 58
    COMMISSION_REPORT = 59
    POSITION_DATA = 61
    POSITION_END = 62
    ACCOUNT_SUMMARY = 63
    ACCOUNT_SUMMARY_END = 64
    ACCOUNT_UPDATE_MULTI = 73
    ACCOUNT_UPDATE_MULTI_END = 74
    HEAD_TIMESTAMP = 88
    HISTORICAL_DATA_UPDATE = 90
    COMPLETED_ORDER = 101
    COMPLETED_ORDERS_END = 102


# The 12 fields a client-side ``Contract`` expands to (``Client.send``).
CONTRACT_FIELDS = (
    "conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right",
    "multiplier", "exchange", "primaryExchange", "currency", "localSymbol", "tradingClass",
)

# Named layouts of client messages: names of the fields after the message id. "version" marks
# a version field; "*contract" expands to CONTRACT_FIELDS. Trailing fields not named are kept
# in ``ClientMessage.fields`` only.
CLIENT_LAYOUTS: dict[int, tuple[str, ...]] = {
    In.REQ_MKT_DATA: ("version", "reqId", "*contract"),
    In.CANCEL_MKT_DATA: ("version", "reqId"),
    In.PLACE_ORDER: (
        "orderId", "*contract", "secIdType", "secId", "action", "totalQuantity", "orderType",
        "lmtPrice", "auxPrice", "tif", "ocaGroup", "account", "openClose", "origin", "orderRef",
        "transmit", "parentId", "blockOrder", "sweepToFill", "displaySize", "triggerMethod",
        "outsideRth", "hidden",
    ),
    In.CANCEL_ORDER: ("version", "orderId"),
    In.REQ_OPEN_ORDERS: ("version",),
    In.REQ_ACCOUNT_UPDATES: ("version", "subscribe", "acctCode"),
    In.REQ_EXECUTIONS: (
        "version", "reqId", "clientId", "acctCode", "time", "symbol", "secType", "exchange", "side",
    ),
    In.REQ_IDS: ("version", "numIds"),
    In.REQ_CONTRACT_DETAILS: ("version", "reqId", "*contract", "includeExpired", "secIdType", "secId"),
    In.REQ_AUTO_OPEN_ORDERS: ("version", "autoBind"),
    In.REQ_ALL_OPEN_ORDERS: ("version",),
    In.REQ_MANAGED_ACCTS: ("version",),
    In.REQ_HISTORICAL_DATA: (
        "reqId", "*contract", "includeExpired", "endDateTime", "barSizeSetting", "durationStr",
        "useRTH", "whatToShow", "formatDate", "keepUpToDate", "chartOptions",
    ),
    In.CANCEL_HISTORICAL_DATA: ("version", "reqId"),
    In.REQ_CURRENT_TIME: ("version",),
    In.REQ_REAL_TIME_BARS: ("version", "reqId", "*contract", "barSize", "whatToShow", "useRTH", "options"),
    In.CANCEL_REAL_TIME_BARS: ("version", "reqId"),
    In.REQ_GLOBAL_CANCEL: ("version",),
    In.REQ_MARKET_DATA_TYPE: ("version", "marketDataType"),
    In.REQ_POSITIONS: ("version",),
    In.REQ_ACCOUNT_SUMMARY: ("version", "reqId", "groupName", "tags"),
    In.CANCEL_ACCOUNT_SUMMARY: ("version", "reqId"),
    In.CANCEL_POSITIONS: ("version",),
    In.START_API: ("version", "clientId", "optionalCapabilities"),
    In.REQ_ACCOUNT_UPDATES_MULTI: ("version", "reqId", "account", "modelCode", "ledgerAndNLV"),
    In.CANCEL_ACCOUNT_UPDATES_MULTI: ("version", "reqId"),
    In.REQ_HEAD_TIMESTAMP: ("reqId", "*contract", "includeExpired", "useRTH", "whatToShow", "formatDate"),
    In.REQ_PNL: ("reqId", "account", "modelCode"),
    In.CANCEL_PNL: ("reqId",),
    In.REQ_COMPLETED_ORDERS: ("apiOnly",),
}


@dataclass(frozen=True)
class ClientMessage:
    """One decoded client message: id, snake-free IB name, named fields and the raw fields."""

    msg_id: int
    name: str
    params: dict[str, str]
    fields: tuple[str, ...]
    client_id: int | None = None
    received_at: float = 0.0

    def get(self, key: str, default: str = "") -> str:
        """A named field, or ``default`` when the message does not carry it."""
        return self.params.get(key, default)

    def int(self, key: str, default: int = 0) -> int:
        """A named field as int; ``''`` reads as ``default``."""
        value = self.params.get(key, "")
        return int(float(value)) if value not in ("", None) else default

    def float(self, key: str, default: float | None = None) -> float | None:
        """A named field as float; ``''`` reads as ``default``."""
        value = self.params.get(key, "")
        return float(value) if value not in ("", None) else default

    def flag(self, key: str) -> bool:
        """A named 0/1 field as bool."""
        return self.params.get(key, "") not in ("", "0", "False", "false")


def message_name(msg_id: int) -> str:
    """The lowerCamel IB request name of a client message id (``'msg<N>'`` when unknown)."""
    try:
        words = In(msg_id).name.lower().split("_")
    except ValueError:
        return f"msg{msg_id}"
    return words[0] + "".join(w.capitalize() for w in words[1:])


def decode_client_message(fields: Sequence[str], client_id: int | None = None,
                          received_at: float = 0.0) -> ClientMessage:
    """Name the fields of one client message by its layout in ``CLIENT_LAYOUTS``."""
    if not fields or not fields[0].lstrip("-").isdigit():
        raise ProtocolError(f"message without a numeric id: {list(fields)[:3]!r}")
    msg_id = int(fields[0])
    layout = CLIENT_LAYOUTS.get(msg_id, ())
    names: list[str] = []
    for name in layout:
        names.extend(CONTRACT_FIELDS if name == "*contract" else (name,))
    params = dict(zip(names, fields[1:]))
    return ClientMessage(msg_id, message_name(msg_id), params, tuple(fields), client_id, received_at)


def to_field(value: object) -> str:
    """One field as the TWS encoder writes it: ``None``/unset → ``''``, bool → ``'1'``/``'0'``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return "" if value == UNSET_INTEGER else str(value)
    if isinstance(value, float):
        if value == UNSET_DOUBLE or math.isnan(value):
            return ""
        if value == math.inf:
            return "Infinite"
        return repr(value)
    return str(value)


def encode_frame(fields: Iterable[object]) -> bytes:
    """A length-prefixed message from its fields."""
    payload = "".join(to_field(f) + "\0" for f in fields).encode()
    return _LENGTH.pack(len(payload)) + payload


def split_payload(payload: bytes) -> list[str]:
    """The fields of one message payload (the trailing empty element dropped)."""
    fields = payload.decode(errors="backslashreplace").split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


def frame_length(header: bytes) -> int:
    """The payload length from a 4-byte header, bounded by ``MAX_FRAME_BYTES``."""
    (length,) = _LENGTH.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {length} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return length


@dataclass(frozen=True)
class Handshake:
    """The client's ``v<min>..<max>[ options]`` announcement."""

    min_version: int
    max_version: int
    options: str = ""


def parse_handshake(payload: bytes) -> Handshake:
    """Parse ``b'v157..176'`` (optionally ``b'v157..176 +PACEAPI'``)."""
    text = payload.decode(errors="replace")
    head, _, options = text.partition(" ")
    if not head.startswith("v") or ".." not in head:
        raise ProtocolError(f"bad version announcement {text!r}: expected 'v<min>..<max>'")
    low, _, high = head[1:].partition("..")
    try:
        return Handshake(int(low), int(high), options)
    except ValueError as exc:
        raise ProtocolError(f"bad version numbers in {text!r}") from exc


def negotiate_version(handshake: Handshake, forced: int | None = None) -> int:
    """The server version to answer: ``forced`` if set, else ``min(client max, 176)``."""
    if forced is not None:
        return forced
    return min(handshake.max_version, MAX_SERVER_VERSION)


@dataclass
class FrameDecoder:
    """Incremental splitter of a byte stream into framed messages (for non-stream users)."""

    buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[list[str]]:
        """Append bytes; return the complete messages now available."""
        self.buffer.extend(data)
        messages: list[list[str]] = []
        while len(self.buffer) >= 4:
            length = frame_length(bytes(self.buffer[:4]))
            if len(self.buffer) < 4 + length:
                break
            messages.append(split_payload(bytes(self.buffer[4:4 + length])))
            del self.buffer[:4 + length]
        return messages
