"""An outside audit of the walk-forward ML on data the ML tests never use (FXCM minute bars, no
volume, a weekend gap) and on held-out periods: pretrained models score only bars after their
training data, in every position of the held-out slice, and a cache made for another timeframe
is refused."""
from __future__ import annotations

import functools

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from btedge.feeds import FrameData
from btedge.indicators.ml import EnsembleSignal
from btedge.testkit import indicator_lines
from tests.support.shared import require_shared

pytestmark = pytest.mark.shared
SMALL = dict(train_bars=300, retrain_every=100, seq_len=12, hidden=8, epochs=3, min_samples=50, members="xgb")


@functools.lru_cache(maxsize=2)
def _fx(name: str) -> pd.DataFrame:
    path = require_shared("repos", "intraday", name)
    frame = pd.read_csv(path, index_col=0, parse_dates=True).tz_convert(None)
    frame["volume"] = 0.0  # FXCM quotes carry no volume
    return frame


def usdjpy(start: int, stop: int) -> pd.DataFrame:
    return _fx("nautilus_fxcm_usdjpy_m1_bid_2013-02.csv.gz").iloc[start:stop].copy()


def gbpusd(start: int, stop: int) -> pd.DataFrame:
    return _fx("nautilus_fxcm_gbpusd_m1_bid_2012-02.csv.gz").iloc[start:stop].copy()


class _Record(bt.Strategy):
    params = (("kw", None),)

    def __init__(self) -> None:
        self.ind = EnsembleSignal(self.data, **self.p.kw)
        self.rows: list[tuple[pd.Timestamp, float]] = []

    def next(self) -> None:
        self.rows.append((pd.Timestamp(self.data.datetime.datetime(0)), self.ind.p_long[0]))

    prenext = nextstart = next


def p_long(frame: pd.DataFrame, cache, name: str = "USDJPY", compression: int = 1, runonce: bool = True,
           **kw) -> pd.Series:
    """EnsembleSignal's p_long on a NAMED data (as the CLI and live feeds give it)."""
    cerebro = bt.Cerebro(stdstats=False, runonce=runonce)
    cerebro.adddata(FrameData(dataname=frame, timeframe=bt.TimeFrame.Minutes, compression=compression), name=name)
    cerebro.addstrategy(_Record, kw={**SMALL, "cache_dir": str(cache), **kw})
    rows = cerebro.run()[0].rows
    return pd.Series([v for _, v in rows], index=[t for t, _ in rows], dtype=float)


def test_pretrained_on_a_slice_that_straddles_the_training_end(tmp_path):
    """Trained on bars 0-499 (newest fold 400: data up to bar 399). Pretrained on bars 350-899,
    in runonce and next: the bars up to 399 are NaN, and after the features' warm-up the scores
    equal those of the same fold over the continuous series (the slice sees nothing else)."""
    p_long(usdjpy(0, 500), tmp_path)
    cutoff = usdjpy(0, 500).index[399]
    held = [p_long(usdjpy(350, 900), tmp_path, pretrained=True, max_age_days=0, runonce=mode) for mode in (True, False)]
    np.testing.assert_array_equal(held[0].to_numpy(), held[1].to_numpy())
    held = held[0]
    assert held[held.index <= cutoff].isna().all() and (held.index <= cutoff).sum() == 50
    after = held[held.index > cutoff]
    assert after.iloc[60:].notna().all()
    continuous = p_long(usdjpy(0, 900), tmp_path, pretrained=True, max_age_days=0)
    np.testing.assert_allclose(after.iloc[100:], continuous.reindex(after.index).iloc[100:], rtol=0, atol=1e-9)


def test_pretrained_refuses_a_cache_made_for_another_timeframe(tmp_path):
    """The cache holds USDJPY 1-minute folds; the same symbol in 5-minute bars must not use them."""
    p_long(usdjpy(0, 500), tmp_path)
    five = usdjpy(0, 3000).resample("5min").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}).dropna()
    with pytest.raises(ValueError, match="no trained fold .* USDJPY, 5 Minutes.* USDJPY, 1 Minute only"):
        p_long(five, tmp_path, compression=5, pretrained=True, max_age_days=0)


@pytest.mark.slow
def test_truncation_at_fold_boundaries_across_the_fx_weekend_gap(tmp_path):
    """GBPUSD minutes around the first weekend (the 2-day gap sits 85 bars after the fold at 200):
    cuts at b+1 .. b+3 after each boundary, each with a fresh cache, equal the full run's lines."""
    frame = gbpusd(3900, 4400)
    gap = int(np.flatnonzero(frame.index.to_series().diff() > pd.Timedelta("1h"))[0])
    assert gap == 285
    kw = dict(SMALL, train_bars=200, horizon=3, members="cnn,xgb")

    def make(cache):
        return lambda s: EnsembleSignal(s.data, cache_dir=str(cache), **kw)

    full = indicator_lines(frame, make(tmp_path / "full"))
    for b in (200, 300):
        for cut in range(b + 1, b + 4):
            short = indicator_lines(frame.iloc[:cut], make(tmp_path / f"cut{cut}"))
            for key, values in full.items():
                np.testing.assert_allclose(short[key], values[:cut], rtol=0, atol=1e-12, err_msg=f"{key} cut {cut}")
                assert np.isfinite(short[key][b:]).all()


@pytest.mark.slow
def test_lagnet_truncation_at_fold_boundaries_on_eth_btc_5_minutes(tmp_path):
    """LagNet (a regression target over ``horizon`` bars and a smoothed lag) on the ETH/BTC
    5-minute pair: cuts at b+1 .. b+h after each boundary, fresh caches, equal the full run."""
    from btedge.indicators.ml import LagNet

    raw = pd.read_csv(require_shared("repos", "intraday", "freqtrade_10pairs_BTC_5m_2018-01.csv.gz"),
                      parse_dates=["date"])
    frame = raw[raw["pair"] == "ETH/BTC"].set_index("date")[["open", "high", "low", "close", "volume"]].iloc[:420]
    h = 3
    kw = dict(SMALL, train_bars=250, retrain_every=80, horizon=h, max_lag=8)
    kw.pop("members")

    def make(cache):
        return lambda s: LagNet(s.data, cache_dir=str(cache), **kw)

    full = indicator_lines(frame, make(tmp_path / "full"))
    for b in (250, 330):
        for cut in range(b + 1, b + h + 1):
            short = indicator_lines(frame.iloc[:cut], make(tmp_path / f"cut{cut}"))
            for key, values in full.items():
                np.testing.assert_allclose(short[key], values[:cut], rtol=0, atol=1e-12, err_msg=f"{key} cut {cut}")
                assert np.isfinite(short[key][b:]).all()
