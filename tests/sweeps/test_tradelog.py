"""SweepTradeLog: per-trade returns and turnover on a hand-checkable run."""
from __future__ import annotations

import backtrader as bt
import pytest

from btedge.feeds import FrameData, sample_data
from btedge.sweeps.tradelog import SweepTradeLog


class _InOut(bt.Strategy):
    """Long 2 (bar 10), add 1 (20), close (30); short 1 (40), cover (50);
    long 2 (60), reverse to short 2 (65), close (70)."""

    def next(self) -> None:
        bar = len(self)
        if bar == 10:
            self.buy(size=2)
        elif bar == 20:
            self.buy(size=1)
        elif bar == 30:
            self.close()
        elif bar == 40:
            self.sell(size=1)
        elif bar in (50, 70):
            self.close()
        elif bar == 60:
            self.buy(size=2)
        elif bar == 65:
            self.sell(size=4)


def _run(commission: float, ppy: float | None = 8760.0):  # type: ignore[no-untyped-def]
    df = sample_data().iloc[:80]
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(FrameData(dataname=df, timeframe=bt.TimeFrame.Minutes, compression=60))
    cerebro.broker.setcash(1_000_000.0)
    cerebro.broker.setcommission(commission=commission)
    cerebro.addstrategy(_InOut)
    cerebro.addanalyzer(SweepTradeLog, _name="log", periods_per_year=ppy)
    return df, cerebro.run()[0].analyzers.log.get_analysis()


def test_trade_returns_and_turnover_by_hand() -> None:
    df, got = _run(commission=0.0)
    opens = df["open"].to_numpy()
    # market orders fill at the next bar's open (bar n -> row n)
    entry1, entry2, exit1 = opens[10], opens[20], opens[30]
    pnl1 = 2 * (exit1 - entry1) + (exit1 - entry2)
    held1 = 2 * entry1 + entry2  # |size| * average price once grown to 3 units
    short_entry, short_exit = opens[40], opens[50]
    long2, reverse, cover = opens[60], opens[65], opens[70]
    assert list(got["trade_returns"]) == pytest.approx([
        pnl1 / held1,
        (short_entry - short_exit) / short_entry,
        (reverse - long2) / long2,
        (reverse - cover) / reverse,
    ])
    notional = 2 * entry1 + entry2 + 3 * exit1 + short_entry + short_exit + 2 * long2 + 4 * reverse + 2 * cover
    assert got["traded_notional"] == pytest.approx(notional)
    assert got["bars"] == 80
    assert got["turnover"] == pytest.approx(notional / got["mean_value"] * 8760.0 / 80)


def test_commission_lowers_trade_returns_and_bad_param() -> None:
    _, free = _run(commission=0.0)
    _, costly = _run(commission=0.001)
    assert all(c < f for c, f in zip(costly["trade_returns"], free["trade_returns"]))
    _, unannualised = _run(commission=0.0, ppy=None)
    assert unannualised["turnover"] != unannualised["turnover"]  # nan without periods_per_year
    with pytest.raises(ValueError, match="periods_per_year"):
        _run(commission=0.0, ppy=-1.0)
