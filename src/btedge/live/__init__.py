"""Live trading on Interactive Brokers: the only package that imports ib_async / ib_insync.

``IBStore`` (one connection, pumped from backtrader's loop, reconnect and reconciliation),
``IBData`` (backfill then completed live bars), ``IBBroker`` (orders, fills, positions) and the
risk gates in :mod:`btedge.live.risk`. The client library is chosen in :mod:`btedge.live._ib`.
"""
from btedge.live.broker import IBBroker
from btedge.live.data import IBData
from btedge.live.risk import LiveTradingRefused, RiskGate, RiskLimits, check_accounts, mask_account
from btedge.live.store import IBStore

__all__ = ["IBBroker", "IBData", "IBStore", "LiveTradingRefused", "RiskGate", "RiskLimits",
           "check_accounts", "mask_account"]
