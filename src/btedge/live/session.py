"""The one way to assemble a live session: cerebro with one IBStore, an IBData per symbol and the
IBBroker, from an :class:`~btedge.live.config.IBConfig`. ``btedge-live``, the tests and the
benchmarks all build their sessions here, so they run the same wiring."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import backtrader as bt

from btedge.live.broker import IBBroker
from btedge.live.config import IBConfig
from btedge.live.data import IBData
from btedge.live.store import IBStore


@dataclass
class LiveSession:
    """What :func:`build_session` made: run it with ``session.run()``."""

    cerebro: bt.Cerebro
    store: IBStore
    broker: IBBroker
    datas: list[IBData] = field(default_factory=list)

    def run(self) -> Any:
        """Run cerebro bar by bar (live: no preload, no runonce); returns the first strategy.
        The store is stopped afterwards, however the run ends."""
        try:
            return self.cerebro.run(runonce=False, preload=False)[0]
        finally:
            self.store.stop()


def build_session(config: IBConfig, symbols: Sequence[str], strategy: type | None = None,
                  params: dict[str, Any] | None = None, *, timeframe: int = bt.TimeFrame.Minutes,
                  compression: int = 1, data_kw: dict[str, Any] | None = None,
                  broker_kw: dict[str, Any] | None = None, ib: Any = None,
                  **cerebro_kw: Any) -> LiveSession:
    """cerebro + IBStore(config) + one IBData per symbol (named by it) + IBBroker + ``strategy``.

    Args:
        config: connection, watchdog and state settings (``state_dir`` / ``run_name`` reach the
            broker's journal).
        symbols: contract strings, one feed each, in the strategy's data order.
        strategy, params: the strategy class and its params (None: add none).
        timeframe, compression: the bar size of every feed.
        data_kw: more IBData params (``backfill``, ``rtbar``, ``qcheck``...).
        broker_kw: more IBBroker params (``risk``, ``order_ref``, ``live``, ``confirmed``...).
        ib: an ``IB`` client object for the store (tests).
        cerebro_kw: ``bt.Cerebro`` params (default ``stdstats=False, quicknotify=True``).
    """
    if not symbols:
        raise ValueError("a live session needs at least one symbol")
    store = IBStore(config, ib=ib)
    cerebro = bt.Cerebro(**{"stdstats": False, "quicknotify": True, **cerebro_kw})
    datas = []
    for symbol in symbols:
        data = IBData(dataname=symbol, name=symbol, store=store, timeframe=timeframe, compression=compression,
                      **(data_kw or {}))
        cerebro.adddata(data)
        datas.append(data)
    state = {key: getattr(config, key) for key in ("state_dir", "run_name") if getattr(config, key) is not None}
    broker = IBBroker(store=store, **{**state, **(broker_kw or {})})
    cerebro.setbroker(broker)
    if strategy is not None:
        cerebro.addstrategy(strategy, **(params or {}))
    return LiveSession(cerebro, store, broker, datas)
