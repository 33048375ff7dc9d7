"""Live trading on Interactive Brokers: the only package that imports ib_async / ib_insync.

``IBConfig`` (every connection, watchdog and state setting, frozen), ``build_session`` (cerebro
with one store, a feed per symbol and the broker), ``IBStore`` (one connection, pumped from
backtrader's loop; reconnect, the (re)connect sequence, watchdogs, pacing), ``IBData`` (backfill
then completed live bars), ``IBBroker`` (orders, fills and positions through the order journal)
and the risk gates in :mod:`btedge.live.risk`. The client library is chosen in
:mod:`btedge.live._ib`.
"""
from btedge.live.broker import IBBroker
from btedge.live.config import IBConfig
from btedge.live.data import IBData
from btedge.live.risk import LiveTradingRefused, RiskGate, RiskLimits, check_accounts, mask_account
from btedge.live.session import LiveSession, build_session
from btedge.live.store import FatalConnectError, IBStore, OutageExceeded

__all__ = ["FatalConnectError", "IBBroker", "IBConfig", "IBData", "IBStore", "LiveSession", "LiveTradingRefused",
           "OutageExceeded", "RiskGate", "RiskLimits", "build_session", "check_accounts", "mask_account"]
