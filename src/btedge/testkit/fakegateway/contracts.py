"""Instruments the fake gateway knows: contract details and the matching rules of ``reqContractDetails``.

An :class:`Instrument` is what TWS would return as ``ContractDetails`` for one contract. The
helpers :func:`stock`, :func:`future`, :func:`forex` and :func:`crypto` fill realistic defaults
for the four security types the plugins trade (``STK``, ``FUT``, ``CASH``, ``CRYPTO``).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Mapping

SEC_TYPES = ("STK", "FUT", "CASH", "CRYPTO")
_US_HOURS = "20250102:0930-20250102:1600"


def stable_con_id(sec_type: str, symbol: str, currency: str, last_trade_date: str) -> int:
    """A deterministic contract id, the same in every gateway instance."""
    key = f"{sec_type}:{symbol}:{currency}:{last_trade_date}".upper().encode()
    return 100_000 + zlib.crc32(key) % 900_000_000


@dataclass
class Instrument:
    """One contract with the details ``reqContractDetails`` returns for it."""

    symbol: str
    sec_type: str = "STK"
    exchange: str = "SMART"
    primary_exchange: str = ""
    currency: str = "USD"
    local_symbol: str = ""
    trading_class: str = ""
    multiplier: str = ""
    last_trade_date: str = ""
    min_tick: float = 0.01
    long_name: str = ""
    time_zone: str = "US/Eastern"
    order_types: str = "LMT,MKT,STP,STP LMT,TRAIL"
    valid_exchanges: str = ""
    market_rule_ids: str = "26"
    con_id: int = 0
    trading_hours: str = _US_HOURS
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.sec_type not in SEC_TYPES:
            raise ValueError(f"sec_type={self.sec_type!r}: expected one of {', '.join(SEC_TYPES)}")
        if not self.symbol:
            raise ValueError("symbol is empty: give the IB symbol, e.g. 'SPY', 'ES', 'EUR', 'BTC'")
        self.local_symbol = self.local_symbol or self.symbol
        self.trading_class = self.trading_class or self.symbol
        self.valid_exchanges = self.valid_exchanges or self.exchange
        self.long_name = self.long_name or self.symbol
        if not self.con_id:
            self.con_id = stable_con_id(self.sec_type, self.symbol, self.currency, self.last_trade_date)

    @property
    def multiplier_value(self) -> float:
        """The contract multiplier as a number (1 when unset)."""
        return float(self.multiplier) if self.multiplier else 1.0

    def matches(self, query: Mapping[str, str]) -> bool:
        """Whether a request's contract fields (``CONTRACT_FIELDS`` names) select this instrument."""
        con_id = query.get("conId", "")
        if con_id not in ("", "0"):
            return int(float(con_id)) == self.con_id
        checks = (
            ("symbol", self.symbol),
            ("secType", self.sec_type),
            ("currency", self.currency),
            ("localSymbol", self.local_symbol),
            ("tradingClass", self.trading_class),
        )
        for key, mine in checks:
            wanted = query.get(key, "")
            if wanted and wanted.upper() != mine.upper():
                return False
        if not query.get("symbol") and not query.get("localSymbol"):
            return False
        exchange = query.get("exchange", "").upper()
        if exchange and exchange != "SMART" and exchange not in self.valid_exchanges.upper().split(","):
            return False
        expiry = query.get("lastTradeDateOrContractMonth", "")
        return not expiry or self.last_trade_date.startswith(expiry)

    def contract_fields(self) -> dict[str, str]:
        """The 12 client-side contract fields of this instrument (for recording and matching)."""
        return {
            "conId": str(self.con_id), "symbol": self.symbol, "secType": self.sec_type,
            "lastTradeDateOrContractMonth": self.last_trade_date, "strike": "", "right": "",
            "multiplier": self.multiplier, "exchange": self.exchange,
            "primaryExchange": self.primary_exchange, "currency": self.currency,
            "localSymbol": self.local_symbol, "tradingClass": self.trading_class,
        }


def stock(symbol: str, primary_exchange: str = "ARCA", currency: str = "USD", **kw: object) -> Instrument:
    """A SMART-routed stock or ETF."""
    return Instrument(symbol=symbol, sec_type="STK", exchange="SMART", primary_exchange=primary_exchange,
                      currency=currency, valid_exchanges=f"SMART,{primary_exchange}", **kw)  # type: ignore[arg-type]


def future(symbol: str, last_trade_date: str, exchange: str = "CME", multiplier: str = "50",
           currency: str = "USD", local_symbol: str = "", **kw: object) -> Instrument:
    """A futures contract; ``last_trade_date`` is ``YYYYMMDD`` (a ``YYYYMM`` query matches it)."""
    if len(last_trade_date) != 8 or not last_trade_date.isdigit():
        raise ValueError(f"last_trade_date={last_trade_date!r}: expected YYYYMMDD, e.g. '20261218'")
    month_codes = "FGHJKMNQUVXZ"
    local = local_symbol or f"{symbol}{month_codes[int(last_trade_date[4:6]) - 1]}{last_trade_date[3]}"
    return Instrument(symbol=symbol, sec_type="FUT", exchange=exchange, currency=currency,
                      multiplier=multiplier, last_trade_date=last_trade_date, local_symbol=local,
                      min_tick=0.25, time_zone="US/Central", **kw)  # type: ignore[arg-type]


def forex(pair: str, **kw: object) -> Instrument:
    """An IDEALPRO currency pair from ``'EURUSD'`` (symbol EUR, currency USD, localSymbol EUR.USD)."""
    pair = pair.replace(".", "").replace("/", "").upper()
    if len(pair) != 6:
        raise ValueError(f"pair={pair!r}: expected six letters such as 'EURUSD'")
    base, quote = pair[:3], pair[3:]
    return Instrument(symbol=base, sec_type="CASH", exchange="IDEALPRO", currency=quote,
                      local_symbol=f"{base}.{quote}", trading_class=f"{base}.{quote}", min_tick=0.00005,
                      order_types="LMT,MKT,STP,STP LMT", time_zone="US/Eastern", **kw)  # type: ignore[arg-type]


def crypto(symbol: str, exchange: str = "PAXOS", currency: str = "USD", **kw: object) -> Instrument:
    """A crypto contract (IB routes these to PAXOS / ZEROHASH)."""
    return Instrument(symbol=symbol, sec_type="CRYPTO", exchange=exchange, currency=currency,
                      local_symbol=f"{symbol}.{currency}", trading_class=symbol, min_tick=0.25,
                      order_types="LMT,MKT,STP,STP LMT", **kw)  # type: ignore[arg-type]


def instrument_for(symbol: str, sec_type: str = "STK", **kw: object) -> Instrument:
    """An instrument of the given type with the helper's defaults (CLI and simple set-ups)."""
    sec_type = sec_type.upper()
    if sec_type == "STK":
        return stock(symbol, **kw)  # type: ignore[arg-type]
    if sec_type == "FUT":
        return future(symbol, **kw)  # type: ignore[arg-type]
    if sec_type == "CASH":
        return forex(symbol, **kw)
    if sec_type == "CRYPTO":
        return crypto(symbol, **kw)  # type: ignore[arg-type]
    raise ValueError(f"sec_type={sec_type!r}: expected one of {', '.join(SEC_TYPES)}")


class InstrumentRegistry:
    """The instruments of one gateway, with lookup by a request's contract fields."""

    def __init__(self) -> None:
        self._by_con_id: dict[int, Instrument] = {}

    def add(self, instrument: Instrument) -> Instrument:
        """Register an instrument (replacing one with the same conId)."""
        self._by_con_id[instrument.con_id] = instrument
        return instrument

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_con_id.values())

    def __len__(self) -> int:
        return len(self._by_con_id)

    def get(self, con_id: int) -> Instrument:
        """The instrument with this conId (``KeyError`` naming the known ones otherwise)."""
        try:
            return self._by_con_id[con_id]
        except KeyError:
            known = ", ".join(f"{i.symbol}={i.con_id}" for i in self)
            raise KeyError(f"no instrument with conId {con_id}; known: {known}") from None

    def find(self, query: Mapping[str, str]) -> list[Instrument]:
        """Every instrument the request's contract fields select."""
        return [inst for inst in self._by_con_id.values() if inst.matches(query)]

    def by_symbol(self, symbol: str) -> Instrument:
        """The single instrument with this symbol or local symbol (``KeyError`` otherwise)."""
        hits = [i for i in self if symbol.upper() in (i.symbol.upper(), i.local_symbol.upper())]
        if len(hits) != 1:
            known = ", ".join(sorted(i.local_symbol for i in self))
            raise KeyError(f"{len(hits)} instruments named {symbol!r}; known: {known}")
        return hits[0]
