"""validate_ohlcv on in-memory frames: one clear error per problem; find_gaps report."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from btedge.feeds import DataValidationError, find_gaps, validate_ohlcv


def _frame(n: int = 6) -> pd.DataFrame:
    index = pd.date_range("2022-01-03 09:30", periods=n, freq="1min", name="datetime")
    close = 100.0 + np.arange(n)
    return pd.DataFrame({"open": close - 0.5, "high": close + 1, "low": close - 1, "close": close,
                         "volume": np.full(n, 10.0)}, index=index)


def test_good_frame_passes_unchanged() -> None:
    df = _frame()
    assert validate_ohlcv(df) is df


def test_capitalised_columns_are_accepted() -> None:
    df = _frame().rename(columns=str.capitalize)
    assert validate_ohlcv(df, source="mine") is df


def _corrupt(kind: str) -> pd.DataFrame:
    df = _frame()
    if kind == "missing":
        return df.drop(columns=["high"])
    if kind == "nan":
        df.iloc[[2, 4], df.columns.get_loc("close")] = np.nan
    elif kind == "nonpositive":
        df.iloc[3, df.columns.get_loc("low")] = 0.0
    elif kind == "inverted":
        df.iloc[1, df.columns.get_loc("high")] = 98.0
    elif kind == "negative_volume":
        df.iloc[5, df.columns.get_loc("volume")] = -1.0
    elif kind == "duplicate":
        df.index = df.index[[0, 1, 2, 2, 4, 5]]
    elif kind == "unsorted":
        df = df.iloc[[0, 1, 3, 2, 4, 5]]
    elif kind == "text":
        df["close"] = df["close"].astype(str)
    elif kind == "index":
        df = df.reset_index()
    elif kind == "nat":
        df.index = pd.DatetimeIndex([*df.index[:4], pd.NaT, df.index[5]], name="datetime")
    elif kind == "empty":
        df = df.iloc[:0]
    return df


CASES = {
    "missing": r"src\.csv: missing column\(s\) \['high'\]; columns are .*Fix: rename them",
    "nan": r"src\.csv: NaN price or volume in 2 row\(s\); first at row 3 \(2022-01-03 09:32:00\)\. "
           r"Fix: drop or forward-fill NaN rows: df\.dropna\(\)",
    "nonpositive": r"non-positive price \(<= 0\) in 1 row\(s\); first at row 4 \(2022-01-03 09:33:00\)",
    "inverted": r"high below low in 1 row\(s\); first at row 2 \(2022-01-03 09:31:00\)\. Fix: check the column",
    "negative_volume": r"negative volume in 1 row\(s\); first at row 6",
    "duplicate": r"duplicate timestamp in 1 row\(s\); first at row 4 \(2022-01-03 09:32:00\).*duplicated\(keep='last'\)",
    "unsorted": r"unsorted\) in 1 row\(s\); first at row 4 \(2022-01-03 09:32:00\)\. Fix: sort it: df = df\.sort_index\(\)",
    "text": r"column 'close' has dtype .*not numbers.*pd\.to_numeric",
    "index": r"the index is RangeIndex, not a DatetimeIndex.*set_index",
    "nat": r"missing timestamp \(NaT\) in 1 row\(s\); first at row 5",
    "empty": r"src\.csv: no rows",
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_problem_has_one_clear_error(kind: str) -> None:
    with pytest.raises(DataValidationError, match=CASES[kind]):
        validate_ohlcv(_corrupt(kind), source="src.csv")


def test_line_numbers_are_named() -> None:
    df = _corrupt("inverted")
    with pytest.raises(DataValidationError, match=r"row 2 \(2022-01-03 09:31:00, file line 41\)"):
        validate_ohlcv(df, source="f.csv", line_numbers=np.arange(40, 46))


def test_open_outside_range_policies(caplog: pytest.LogCaptureFixture) -> None:
    df = _frame()
    df.iloc[2, df.columns.get_loc("open")] = 105.0  # high is 103
    with caplog.at_level(logging.WARNING, logger="btedge.feeds.validate"):
        assert validate_ohlcv(df) is df
    assert "open or close outside [low, high] in 1 row(s) (tolerated); first at row 3" in caplog.text
    with pytest.raises(DataValidationError, match=r"outside \[low, high\] in 1 row\(s\).*bounds='widen'"):
        validate_ohlcv(df, bounds="raise")
    widened = validate_ohlcv(df, bounds="widen")
    assert widened["high"].iloc[2] == 105.0 and df["high"].iloc[2] == 103.0  # copy, input untouched
    with pytest.raises(ValueError, match="bounds must be one of"):
        validate_ohlcv(df, bounds="ignore")


def test_find_gaps_reports_largest_and_count() -> None:
    df = _frame(10).drop(_frame(10).index[[3, 6, 7]])  # gaps of 2 and 3 minutes
    report = find_gaps(df)
    assert report.expected == pd.Timedelta("1min")
    assert report.count == 2 and report.missing_bars == 3
    assert report.largest[0] == (pd.Timestamp("2022-01-03 09:35"), pd.Timestamp("2022-01-03 09:38"),
                                 pd.Timedelta("3min"))
    assert "2 gap(s) over 7 bars" in report.summary()
    assert find_gaps(_frame()).count == 0 and "no gaps" in str(find_gaps(_frame()))
    assert find_gaps(df, expected="5min").count == 0
