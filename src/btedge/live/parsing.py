"""Translation tables between backtrader and IB: data, not code paths.

Everything here is pure (no connection): order types, order statuses, time in force, bar sizes
and contract specs such as ``SPY``, ``ES:FUT:CME:202612``, ``EURUSD:CASH`` or
``BTC:CRYPTO:PAXOS``. Functions that build IB objects take the client module from
:func:`btedge.live._ib.client` so the same code serves ib_async and ib_insync.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import backtrader as bt

#: backtrader execution type -> IB ``orderType``
ORDER_TYPES: dict[int, str] = {
    bt.Order.Market: "MKT",
    bt.Order.Limit: "LMT",
    bt.Order.Stop: "STP",
    bt.Order.StopLimit: "STP LMT",
    bt.Order.Close: "MOC",
}

#: IB order status -> the backtrader status it moves an order to; ``None``: no change
#: (fills drive Partial / Completed; PendingCancel waits for Cancelled; ApiUpdate is a
#: modification; ib_async's ValidationError is a warning on a live order).
ORDER_STATUS: dict[str, int | None] = {
    "ApiPending": bt.Order.Submitted,
    "PendingSubmit": bt.Order.Submitted,
    "PreSubmitted": bt.Order.Submitted,
    "Submitted": bt.Order.Accepted,
    "ApiUpdate": None,
    "PendingCancel": None,
    "ApiCancelled": bt.Order.Canceled,
    "Cancelled": bt.Order.Canceled,
    "Filled": None,
    "Inactive": bt.Order.Rejected,
    "ValidationError": None,
}

#: IB error codes that end an order: cancel, or reject
CANCEL_CODES = frozenset({202})
REJECT_CODES = frozenset({103, 110, 201, 203, 321, 10289, 10293})
#: IB error codes about connectivity: the socket is being dropped (reconnect)
CONNECTION_LOST_CODES = frozenset({1300})
#: IB lost its own connectivity while the socket to TWS stays up (wait for 1101 / 1102)
CONNECTIVITY_LOST_CODES = frozenset({1100, 2110})
DATA_LOST_CODES = frozenset({1101})
DATA_KEPT_CODES = frozenset({1102})
#: a connection refused for a reason retrying cannot fix: client id in use
FATAL_CONNECT_CODES = frozenset({326})
PACING_CODES = frozenset({162, 366, 10182})
#: a real-time bar request refused for good (no market data permission)
NO_PERMISSION_CODES = frozenset({354, 420})

_BAR_UNITS = {
    "s": (bt.TimeFrame.Seconds, "secs"),
    "sec": (bt.TimeFrame.Seconds, "secs"),
    "secs": (bt.TimeFrame.Seconds, "secs"),
    "min": (bt.TimeFrame.Minutes, "min"),
    "mins": (bt.TimeFrame.Minutes, "min"),
    "m": (bt.TimeFrame.Minutes, "min"),
    "h": (bt.TimeFrame.Minutes, "hour"),
    "hour": (bt.TimeFrame.Minutes, "hour"),
    "d": (bt.TimeFrame.Days, "day"),
    "day": (bt.TimeFrame.Days, "day"),
}
#: bar sizes IB serves, by (timeframe, compression)
IB_BAR_SIZES: dict[tuple[int, int], str] = {
    (bt.TimeFrame.Seconds, 1): "1 secs", (bt.TimeFrame.Seconds, 5): "5 secs",
    (bt.TimeFrame.Seconds, 10): "10 secs", (bt.TimeFrame.Seconds, 15): "15 secs",
    (bt.TimeFrame.Seconds, 30): "30 secs", (bt.TimeFrame.Minutes, 1): "1 min",
    (bt.TimeFrame.Minutes, 2): "2 mins", (bt.TimeFrame.Minutes, 3): "3 mins",
    (bt.TimeFrame.Minutes, 5): "5 mins", (bt.TimeFrame.Minutes, 10): "10 mins",
    (bt.TimeFrame.Minutes, 15): "15 mins", (bt.TimeFrame.Minutes, 20): "20 mins",
    (bt.TimeFrame.Minutes, 30): "30 mins", (bt.TimeFrame.Minutes, 60): "1 hour",
    (bt.TimeFrame.Minutes, 120): "2 hours", (bt.TimeFrame.Minutes, 240): "4 hours",
    (bt.TimeFrame.Days, 1): "1 day",
}
_SECONDS_PER = {bt.TimeFrame.Seconds: 1, bt.TimeFrame.Minutes: 60, bt.TimeFrame.Days: 86_400}

#: what to request per security type
WHAT_TO_SHOW = {"STK": "TRADES", "FUT": "TRADES", "CASH": "MIDPOINT", "CRYPTO": "AGGTRADES"}
CONTRACT_FORMS = "SYMBOL | SYMBOL:STK[:EXCHANGE[:CURRENCY]] | SYMBOL:FUT:EXCHANGE:YYYYMM | PAIR:CASH | SYMBOL:CRYPTO:EXCHANGE[:CURRENCY]"


def order_type(exectype: int | None) -> str:
    """IB ``orderType`` for a backtrader execution type (``None`` is Market)."""
    exectype = bt.Order.Market if exectype is None else exectype
    try:
        return ORDER_TYPES[exectype]
    except KeyError:
        name = bt.Order.ExecTypes[exectype] if 0 <= exectype < len(bt.Order.ExecTypes) else exectype
        supported = ", ".join(bt.Order.ExecTypes[k] for k in ORDER_TYPES)
        raise ValueError(f"exectype {name} is not supported by IBBroker; use one of {supported}") from None


def order_status(ib_status: str) -> int | None:
    """backtrader status for an IB order status; ``None`` means "no change"."""
    try:
        return ORDER_STATUS[ib_status]
    except KeyError:
        raise ValueError(f"unknown IB order status {ib_status!r}; known: {sorted(ORDER_STATUS)}") from None


def time_in_force(valid: Any, now: dt.datetime | None = None) -> tuple[str, str]:
    """``(tif, goodTillDate)`` for backtrader's ``valid``.

    ``None`` -> GTC; ``0`` or ``bt.Order.DAY`` -> DAY; a ``datetime`` (UTC) or a
    ``timedelta`` from ``now`` -> GTD with ``goodTillDate`` as ``YYYYMMDD HH:MM:SS UTC``;
    a float is a backtrader date number.
    """
    if valid is None:
        return "GTC", ""
    if isinstance(valid, dt.timedelta):
        if valid == bt.Order.DAY or valid.total_seconds() == 0:
            return "DAY", ""
        valid = (now or dt.datetime.now(dt.timezone.utc)) + valid
    elif isinstance(valid, (int, float)) and not isinstance(valid, bool):
        if valid == 0:
            return "DAY", ""
        valid = bt.num2date(valid)
    if not isinstance(valid, dt.datetime):
        raise ValueError(f"valid must be None, 0, a timedelta, a datetime or a date number, got {valid!r}")
    if valid.tzinfo is not None:
        valid = valid.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return "GTD", valid.strftime("%Y%m%d %H:%M:%S") + " UTC"


def parse_bar(text: str) -> tuple[int, int]:
    """``'1min'``, ``'5s'``, ``'15 mins'``, ``'1h'``, ``'1d'`` -> ``(timeframe, compression)``."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]+)\s*", text or "")
    unit = match and _BAR_UNITS.get(match.group(2).lower())
    if not match or not unit:
        raise ValueError(f"bar {text!r} not understood; use e.g. 5s, 1min, 15min, 1h, 1d")
    count = int(match.group(1))
    timeframe, word = unit
    compression = count * 60 if word == "hour" else count
    if (timeframe, compression) not in IB_BAR_SIZES:
        raise ValueError(f"bar {text!r} is not an IB bar size; valid: {', '.join(IB_BAR_SIZES.values())}")
    return timeframe, compression


def bar_size(timeframe: int, compression: int) -> str:
    """IB ``barSizeSetting`` for a backtrader timeframe and compression."""
    try:
        return IB_BAR_SIZES[(timeframe, compression)]
    except KeyError:
        raise ValueError(
            f"timeframe {bt.TimeFrame.getname(timeframe, compression)} x{compression} is not an IB bar size; "
            f"valid: {', '.join(IB_BAR_SIZES.values())}"
        ) from None


def bar_seconds(timeframe: int, compression: int) -> int:
    """Length of one bar in seconds."""
    if timeframe not in _SECONDS_PER:
        raise ValueError(f"timeframe {bt.TimeFrame.getname(timeframe)} is not supported live; use Seconds, Minutes or Days")
    return _SECONDS_PER[timeframe] * compression


def duration(seconds: float) -> str:
    """IB ``durationStr`` covering at least ``seconds`` (``'N S'`` up to a day, then ``'N D'``)."""
    if seconds <= 0:
        raise ValueError(f"backfill duration must be positive, got {seconds} s")
    if seconds <= 86_400:
        return f"{max(30, math.ceil(seconds))} S"
    return f"{math.ceil(seconds / 86_400)} D"


@dataclass(frozen=True)
class ContractSpec:
    """A parsed contract string."""

    symbol: str
    sec_type: str
    exchange: str
    currency: str
    expiry: str = ""


def parse_contract(text: str) -> ContractSpec:
    """Parse ``SPY``, ``SPY:STK:ARCA:USD``, ``ES:FUT:CME:202612``, ``EURUSD:CASH``, ``BTC:CRYPTO:PAXOS``."""
    parts = [p.strip() for p in (text or "").split(":")]
    if not parts[0]:
        raise ValueError(f"contract {text!r}: empty symbol; forms: {CONTRACT_FORMS}")
    symbol, sec_type = parts[0].upper(), (parts[1].upper() if len(parts) > 1 and parts[1] else "STK")
    rest = parts[2:]
    if sec_type == "STK" and len(rest) <= 2:
        return ContractSpec(symbol, "STK", _get(rest, 0, "SMART"), _get(rest, 1, "USD"))
    if sec_type == "FUT" and len(rest) == 2 and re.fullmatch(r"\d{6}(\d{2})?", rest[1]):
        return ContractSpec(symbol, "FUT", rest[0].upper(), "USD", rest[1])
    if sec_type == "CASH" and re.fullmatch(r"[A-Z]{6}", symbol) and len(rest) <= 1:
        return ContractSpec(symbol[:3], "CASH", _get(rest, 0, "IDEALPRO"), symbol[3:])
    if sec_type == "CRYPTO" and 1 <= len(rest) <= 2:
        return ContractSpec(symbol, "CRYPTO", rest[0].upper(), _get(rest, 1, "USD"))
    raise ValueError(f"contract {text!r} not understood; forms: {CONTRACT_FORMS}")


def _get(items: list[str], index: int, default: str) -> str:
    return items[index].upper() if len(items) > index and items[index] else default


def make_contract(spec: ContractSpec | str, lib: ModuleType) -> Any:
    """An unqualified IB ``Contract`` (of ``lib``) for a spec or contract string."""
    spec = parse_contract(spec) if isinstance(spec, str) else spec
    if spec.sec_type == "FUT":
        return lib.Future(spec.symbol, spec.expiry, spec.exchange, currency=spec.currency)
    if spec.sec_type == "CASH":
        return lib.Forex(spec.symbol + spec.currency, exchange=spec.exchange)
    if spec.sec_type == "CRYPTO":
        return lib.Crypto(spec.symbol, spec.exchange, spec.currency)
    return lib.Stock(spec.symbol, spec.exchange, spec.currency)


def make_order(lib: ModuleType, *, action: str, size: float, exectype: int | None,
               price: float | None = None, plimit: float | None = None, valid: Any = None) -> Any:
    """An IB ``Order`` for backtrader order fields (prices must be set for their type)."""
    kind = order_type(exectype)
    order = lib.Order(action=action, totalQuantity=abs(size), orderType=kind)
    if kind == "LMT":
        order.lmtPrice = _need(price, "price", kind)
    elif kind == "STP":
        order.auxPrice = _need(price, "price", kind)
    elif kind == "STP LMT":
        order.auxPrice = _need(price, "price", kind)
        order.lmtPrice = _need(plimit, "plimit", kind)
    order.tif, order.goodTillDate = time_in_force(valid)
    return order


def _need(value: float | None, name: str, kind: str) -> float:
    if value is None or not math.isfinite(value):
        raise ValueError(f"a {kind} order needs a finite {name}, got {value!r}")
    return float(value)
