"""Closed-trade statistics, commissions included: PnL appended per closed trade, figures at
``stop()`` from :func:`btedge.metrics.trade_stats`."""
from __future__ import annotations

import logging
from array import array

import backtrader as bt

from btedge.analyzers.quiet import NoBarWork
from btedge.metrics import trade_stats

log = logging.getLogger(__name__)


class TradeStats(NoBarWork):
    """
    Statistics of the closed trades of a run, on PnL after commission (``trade.pnlcomm``).

    A trade is a win when its net PnL is > 0, a loss when < 0 and breakeven when exactly 0.
    (``bt.analyzers.TradeAnalyzer`` counts breakeven trades as wins; its ``won.total`` equals
    ``won + even`` here, and streaks agree when there is no breakeven trade: a breakeven trade
    ends both streaks here.)

    Formula (over closed trades, ``pnl`` = ``trade.pnlcomm``):
      - win_rate = won / trades; expectancy = mean(pnl)
      - profit_factor = sum(pnl[pnl > 0]) / -sum(pnl[pnl < 0])
      - commission = sum(trade.pnl) - sum(trade.pnlcomm)

    See:
      - backtrader ``analyzers/tradeanalyzer.py`` (the same trades, nested keys)

    Params:
      - ``data`` (default: ``None``): count only the trades of this data; ``None`` = all datas

    Methods:
      - ``get_analysis`` returns a dict with keys:
        - ``trades``: closed trades; ``open``: trades still open at the end
        - ``won``, ``lost``, ``even``: closed trades with net PnL > 0, < 0, == 0
        - ``win_rate``: won / trades (``None`` with no trades)
        - ``avg_win``: mean net PnL of the wins (``None`` with no wins)
        - ``avg_loss``: mean net PnL of the losses, negative (``None`` with no losses)
        - ``largest_win``, ``largest_loss``: best and worst trade net PnL (``None`` if none)
        - ``profit_factor``: sum of wins / -sum of losses; ``math.inf`` with wins and no
          losses; ``None`` with neither
        - ``expectancy``: mean net PnL per trade (``None`` with no trades)
        - ``longest_win_streak``, ``longest_loss_streak``: most wins / losses in a row
        - ``pnl_net``: total net PnL; ``pnl_gross``: total before commission;
          ``commission``: their difference (commission paid on closed trades)
        - ``avg_bars``: mean bars a closed trade was held (``trade.barlen``; ``None`` if none)
    """

    params = (("data", None),)

    def __init__(self) -> None:
        if self.p.data is not None and not any(d is self.p.data for d in self.strategy.datas):
            raise ValueError("data must be None or one of the strategy's datas")

    def start(self) -> None:
        self._net = array("d")
        self._gross = array("d")
        self._bars = array("q")
        self._open: set[int] = set()

    def notify_trade(self, trade: bt.Trade) -> None:
        if self.p.data is not None and trade.data is not self.p.data:
            return
        key = trade.ref
        if trade.isclosed:
            self._open.discard(key)
            self._net.append(float(trade.pnlcomm))
            self._gross.append(float(trade.pnl))
            self._bars.append(int(trade.barlen))
        elif trade.isopen:
            self._open.add(key)

    def stop(self) -> None:
        self.rets.update(trade_stats(self._net, self._gross, self._bars))
        self.rets["open"] = len(self._open)
        log.debug("TradeStats: %d closed trades, %d open", len(self._net), len(self._open))
