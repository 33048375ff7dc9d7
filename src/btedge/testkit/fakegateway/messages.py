"""Server → client message encoders: pure functions returning the field list of one message.

Each function mirrors one parser of ``ib_insync/decoder.py`` / ``ib_async/decoder.py``
(identical at server versions ≤ 176); server-version switches are the decoders' own
(159, 160, 162, 163, 164, 166, 170). Feed the result to :func:`protocol.encode_frame`.
Int fields are always written as int strings; fields TWS leaves unset are ``''``.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .bars import Bar
from .contracts import Instrument
from .orders import Execution, Order, Position
from .protocol import Out

Fields = list[object]
UNSET_DOUBLE_TEXT = "1.7976931348623157E308"  # what TWS sends for "no realized P&L yet"


def ib_time(epoch: int, fmt: str = "%Y%m%d %H:%M:%S") -> str:
    """Epoch seconds as an IB UTC timestamp text."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime(fmt)


def _number(value: float | None) -> str:
    """A float field: ``''`` when unset, else the shortest text that reads back exactly."""
    return "" if value is None else repr(float(value))


def _contract11(inst: Instrument, exchange: str | None = None) -> Fields:
    """conId … tradingClass as openOrder, execDetails and position carry them (no primaryExchange)."""
    return [inst.con_id, inst.symbol, inst.sec_type, inst.last_trade_date, "", "", inst.multiplier,
            inst.exchange if exchange is None else exchange, inst.currency, inst.local_symbol,
            inst.trading_class]


# ---- session -----------------------------------------------------------------------------
def server_hello(server_version: int, epoch: int) -> Fields:
    """The handshake answer: exactly two fields, server version and connection time."""
    return [server_version, ib_time(epoch) + " UTC"]


def next_valid_id(order_id: int) -> Fields:
    return [Out.NEXT_VALID_ID, 1, order_id]


def managed_accounts(accounts: Sequence[str]) -> Fields:
    return [Out.MANAGED_ACCTS, 1, ",".join(accounts)]


def error(req_id: int, code: int, message: str, server_version: int) -> Fields:
    fields: Fields = [Out.ERR_MSG, 2, req_id, code, message]
    if server_version >= 166:
        fields.append("")  # advancedOrderRejectJson
    return fields


def current_time(epoch: int) -> Fields:
    return [Out.CURRENT_TIME, 1, epoch]


# ---- contracts and market data -----------------------------------------------------------
def contract_data(req_id: int, inst: Instrument, server_version: int) -> Fields:
    """One ``contractDetails`` answer (layout switches at sv 163 and 164)."""
    fields: Fields = [Out.CONTRACT_DATA]
    if server_version < 164:
        fields.append(8)
    fields += [req_id, inst.symbol, inst.sec_type, inst.last_trade_date, "0", "", inst.exchange,
               inst.currency, inst.local_symbol, inst.trading_class, inst.trading_class, inst.con_id,
               _number(inst.min_tick)]
    if server_version < 164:
        fields.append(1)  # mdSizeMultiplier
    contract_month = inst.last_trade_date[:6] if inst.sec_type == "FUT" else ""
    fields += [inst.multiplier, inst.order_types, inst.valid_exchanges, 1, 0, inst.long_name,
               inst.primary_exchange, contract_month, "", "", "", inst.time_zone, inst.trading_hours,
               inst.trading_hours, "", "", 0,  # evRule, evMultiplier, numSecIds
               1, "", "", inst.market_rule_ids, inst.last_trade_date,
               "COMMON" if inst.sec_type == "STK" else ""]
    if server_version == 163:
        fields.append("1")
    elif server_version >= 164:
        fields += ["1", "1", "1"]  # minSize, sizeIncrement, suggestedSizeIncrement
    return fields


def contract_data_end(req_id: int) -> Fields:
    return [Out.CONTRACT_DATA_END, 1, req_id]


def format_bar_date(epoch: int, format_date: int, daily: bool, tz_name: str = "UTC") -> str:
    """A bar date as ``reqHistoricalData`` sends it: epoch text (2), ``YYYYMMDD HH:MM:SS tz`` (1)."""
    if daily:
        return ib_time(epoch, "%Y%m%d")
    if format_date == 2:
        return str(epoch)
    try:
        local = datetime.fromtimestamp(epoch, ZoneInfo(tz_name))
    except (ZoneInfoNotFoundError, ValueError):
        local, tz_name = datetime.fromtimestamp(epoch, timezone.utc), "UTC"
    return f"{local:%Y%m%d %H:%M:%S} {tz_name}"


def historical_data(req_id: int, start: str, end: str, rows: Sequence[tuple[str, Bar]]) -> Fields:
    """The backfill: ``rows`` are ``(formatted date, bar)`` pairs."""
    fields: Fields = [Out.HISTORICAL_DATA, req_id, start, end, len(rows)]
    for date, bar in rows:
        fields += [date, _number(bar.open), _number(bar.high), _number(bar.low), _number(bar.close),
                   _number(bar.volume), _number(bar.average), int(bar.count)]
    return fields


def historical_data_update(req_id: int, date: str, bar: Bar) -> Fields:
    """A keepUpToDate revision; note the wire order open, **close, high, low**, WAP, volume."""
    return [Out.HISTORICAL_DATA_UPDATE, req_id, int(bar.count), date, _number(bar.open),
            _number(bar.close), _number(bar.high), _number(bar.low), _number(bar.average),
            _number(bar.volume)]


def realtime_bar(req_id: int, bar: Bar) -> Fields:
    return [Out.REAL_TIME_BARS, 3, req_id, bar.time, _number(bar.open), _number(bar.high),
            _number(bar.low), _number(bar.close), _number(bar.volume), _number(bar.average),
            int(bar.count)]


def head_timestamp(req_id: int, epoch: int) -> Fields:
    return [Out.HEAD_TIMESTAMP, req_id, ib_time(epoch, "%Y%m%d-%H:%M:%S")]


def market_data_type(req_id: int, data_type: int) -> Fields:
    return [Out.MARKET_DATA_TYPE, 1, req_id, data_type]


def tick_price(req_id: int, tick_type: int, price: float, size: float) -> Fields:
    return [Out.TICK_PRICE, 6, req_id, tick_type, _number(price), _number(size), 0]


def tick_size(req_id: int, tick_type: int, size: float) -> Fields:
    return [Out.TICK_SIZE, 6, req_id, tick_type, _number(size)]


# ---- orders ------------------------------------------------------------------------------
def order_status(order: Order) -> Fields:
    """``orderStatus``: no version field; matched by (clientId, orderId)."""
    return [Out.ORDER_STATUS, order.order_id, order.status, _number(order.filled),
            _number(order.remaining), _number(order.avg_fill_price), order.perm_id, order.parent_id,
            _number(order.last_fill_price), order.client_id, "", ""]


def open_order(order: Order, server_version: int) -> Fields:
    """``openOrder`` (sv ≥ 145 layout, no version field): 120 fields at sv 157, 128 at sv 176."""
    fields: Fields = [
        Out.OPEN_ORDER, order.order_id, *_contract11(order.instrument),
        order.action, _number(order.quantity), order.order_type, _number(order.lmt_price),
        _number(order.aux_price), order.tif, order.oca_group, order.account,
        "", 0, order.order_ref, order.client_id, order.perm_id,  # openClose, origin
        int(order.outside_rth), 0, "0", "", "",  # hidden, discretionaryAmt, goodAfterTime, sharesAllocation
        "", "", "", "", "", "", "",  # faGroup, faMethod, faPercentage, faProfile, modelCode, goodTillDate, rule80A
        "", "", 0, "", -1,  # percentOffset, settlingFirm, shortSaleSlot, designatedLocation, exemptCode
        0, "", "", "", "", "",  # auctionStrategy, startingPrice, stockRefPrice, delta, stockRangeLower/Upper
        0, 0, 0, 0, "", 0,  # displaySize, blockOrder, sweepToFill, allOrNone, minQty, ocaType
        0, 0, "", order.parent_id, 0,  # eTradeOnly, firmQuoteOnly, nbboPriceCap, parentId, triggerMethod
        "", "", "", "",  # volatility, volatilityType, deltaNeutralOrderType, deltaNeutralAuxPrice
        0, "", "", "", "", "", "",  # continuousUpdate … basisPointsType, comboLegsDescrip
        0, 0, 0,  # numComboLegs, numOrderComboLegs, numSmartComboRoutingParams
        "", "", "",  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
        "",  # hedgeType
        0, "", "IB", 0, 0,  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld, dncPresent
        "",  # algoStrategy
        0, 0, order.status,  # solicited, whatIf, status
        "", "", "", "", "", "", "", "", "",  # margin before/change/after
        "", "", "", "", "",  # commission, min/max commission, commissionCurrency, warningText
        0, 0,  # randomizeSize, randomizePrice
        0,  # numConditions
        "", "", "", "", "", "", "", 0,  # adjustedOrderType … adjustableTrailingUnit
        "", "", "",  # softDollarTier name, val, displayName
        "", 0, 0, 0, 0,  # cashQty, dontUseAutoPriceForHedge, isOmsContainer, discretionaryUpToLimitPrice, usePriceMgmtAlgo
    ]
    if server_version >= 159:
        fields.append("")  # duration
    if server_version >= 160:
        fields.append("")  # postToAts
    if server_version >= 162:
        fields.append(0)  # autoCancelParent
    if server_version >= 170:
        fields += ["", "", "", "", ""]  # minTradeQty … midOffsetAtHalf
    return fields


def open_order_end() -> Fields:
    return [Out.OPEN_ORDER_END, 1]


def completed_order(order: Order, server_version: int) -> Fields:
    """``completedOrder``: like openOrder but no orderId/clientId, different tail."""
    fields: Fields = [
        Out.COMPLETED_ORDER, *_contract11(order.instrument),
        order.action, _number(order.quantity), order.order_type, _number(order.lmt_price),
        _number(order.aux_price), order.tif, order.oca_group, order.account,
        "", 0, order.order_ref, order.perm_id,  # openClose, origin, orderRef, permId
        int(order.outside_rth), 0, "0", "",  # hidden, discretionaryAmt, goodAfterTime
        "", "", "", "", "", "", "",  # faGroup, faMethod, faPercentage, faProfile, modelCode, goodTillDate, rule80A
        "", "", 0, "", -1,  # percentOffset, settlingFirm, shortSaleSlot, designatedLocation, exemptCode
        "", "", "", "", "",  # startingPrice, stockRefPrice, delta, stockRangeLower, stockRangeUpper
        0, 0, 0, "", 0, 0,  # displaySize, sweepToFill, allOrNone, minQty, ocaType, triggerMethod
        "", "", "", "",  # volatility, volatilityType, deltaNeutralOrderType, deltaNeutralAuxPrice
        0, "", "", "", "",  # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent, comboLegsDescrip
        0, 0, 0,  # numComboLegs, numOrderComboLegs, numSmartComboRoutingParams
        "", "", "",  # scale sizes and increment
        "",  # hedgeType
        "", "IB", 0, 0,  # clearingAccount, clearingIntent, notHeld, dncPresent
        "",  # algoStrategy
        0, order.status, 0, 0,  # solicited, status, randomizeSize, randomizePrice
        0,  # numConditions
        "", "", "", 0, 0, "",  # trailStopPrice, lmtPriceOffset, cashQty, dontUseAutoPrice…, isOmsContainer, autoCancelDate
        _number(order.filled), 0, 0, "", 0, 0, 0,  # filledQuantity, refFuturesConId, autoCancelParent, shareholder, imbalanceOnly, routeMarketableToBbo, parentPermId
        order.completed_time, order.completed_status,
    ]
    if server_version >= 170:
        fields += ["", "", "", "", ""]
    return fields


def completed_orders_end() -> Fields:
    return [Out.COMPLETED_ORDERS_END]


def exec_details(req_id: int, ex: Execution) -> Fields:
    """``execDetails``: exactly 31 fields, no version; time as tz-aware UTC text."""
    order = ex.order
    venue = order.instrument.primary_exchange or order.instrument.exchange
    return [Out.EXECUTION_DATA, req_id, order.order_id, *_contract11(order.instrument, venue),
            ex.exec_id, ib_time(ex.time) + " UTC", order.account, venue,
            "BOT" if order.side > 0 else "SLD", _number(ex.shares), _number(ex.price), order.perm_id,
            order.client_id, 0, _number(ex.cum_qty), _number(ex.avg_price), order.order_ref, "", "", "", 1]


def exec_details_end(req_id: int) -> Fields:
    return [Out.EXECUTION_DATA_END, 1, req_id]


def commission_report(ex: Execution) -> Fields:
    """``commissionReport``: exactly 8 fields, keyed by execId only."""
    realized = UNSET_DOUBLE_TEXT if ex.realized_pnl is None else _number(ex.realized_pnl)
    return [Out.COMMISSION_REPORT, 1, ex.exec_id, _number(ex.commission), ex.order.instrument.currency,
            realized, UNSET_DOUBLE_TEXT, ""]


# ---- account and portfolio ---------------------------------------------------------------
def position(pos: Position) -> Fields:
    """``position``: exactly 16 fields."""
    return [Out.POSITION_DATA, 3, pos.account, *_contract11(pos.instrument), _number(pos.quantity),
            _number(pos.avg_cost)]


def position_end() -> Fields:
    return [Out.POSITION_END, 1]


def account_value(key: str, value: str, currency: str, account: str) -> Fields:
    return [Out.ACCT_VALUE, 2, key, value, currency, account]


def portfolio_value(pos: Position, market_price: float, realized_pnl: float) -> Fields:
    """``updatePortfolio``: exactly 20 fields (primaryExchange in the exchange slot)."""
    inst = pos.instrument
    market_value = pos.quantity * market_price * inst.multiplier_value
    unrealized = market_value - pos.quantity * pos.avg_cost
    return [Out.PORTFOLIO_VALUE, 8, inst.con_id, inst.symbol, inst.sec_type, inst.last_trade_date, "0", "",
            inst.multiplier, inst.primary_exchange, inst.currency, inst.local_symbol, inst.trading_class,
            _number(pos.quantity), _number(market_price), _number(market_value), _number(pos.avg_cost),
            _number(unrealized), _number(realized_pnl), pos.account]


def account_time(epoch: int) -> Fields:
    return [Out.ACCT_UPDATE_TIME, 1, ib_time(epoch, "%H:%M")]


def account_download_end(account: str) -> Fields:
    return [Out.ACCT_DOWNLOAD_END, 1, account]


def account_update_multi(req_id: int, account: str, key: str, value: str, currency: str) -> Fields:
    return [Out.ACCOUNT_UPDATE_MULTI, 1, req_id, account, "", key, value, currency]


def account_update_multi_end(req_id: int) -> Fields:
    return [Out.ACCOUNT_UPDATE_MULTI_END, 1, req_id]


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> Fields:
    return [Out.ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency]


def account_summary_end(req_id: int) -> Fields:
    return [Out.ACCOUNT_SUMMARY_END, 1, req_id]
