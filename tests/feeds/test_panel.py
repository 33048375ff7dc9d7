"""Wide close-only panels: real files, odd headers and dates, missing values."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btedge.feeds.errors import DataValidationError
from btedge.feeds.panel import align_frames, clean_symbol, is_panel, load_panel
from tests.support.shared import require_shared


def test_23etf_panel_is_close_only():
    path = require_shared("repos", "daily", "arbitragelab_23etfs_2008-2016.csv.gz")
    assert is_panel(path)
    frames = load_panel(path)
    assert len(frames) == 23 and {"SPY", "CSJ", "BND"} <= set(frames)
    spy = frames["SPY"]
    raw = pd.read_csv(path, index_col=0, parse_dates=True)["SPY"]
    assert (spy["open"] == spy["close"]).all() and (spy["high"] == spy["low"]).all()
    assert (spy["volume"] == 0).all()
    np.testing.assert_array_equal(spy["close"].to_numpy(), raw.to_numpy())
    assert spy.index[0] == pd.Timestamp("2008-01-02")


def test_bloomberg_names_and_us_dates():
    path = require_shared("repos", "daily", "arbitragelab_country_etfs_2016-2021.csv.gz")
    frames = load_panel(path, columns=["EWA", "EWC US Equity"])
    assert list(frames) == ["EWA", "EWC"]
    assert frames["EWA"].index[1] == pd.Timestamp("2016-01-04")  # 1/4/2016 is month-first
    assert frames["EWA"].index.is_monotonic_increasing


def test_day_first_dates_and_interior_nans():
    path = require_shared("repos", "daily", "arbitragelab_Shell-RDP_1990-2005.csv")
    with pytest.raises(DataValidationError, match=r"'Shell'.*1990-05-07.*ffill=True"):
        load_panel(path)
    frames = load_panel(path, ffill=True)
    assert frames["Shell"].index[-1] == pd.Timestamp("2005-07-19")  # 19/07/2005: day-first
    assert frames["Shell"]["close"].notna().all()


def test_bom_header(tmp_path):
    f = tmp_path / "p.csv"
    f.write_bytes("\ufeffDate,AAA,BBB\n2020-01-02,1,\n2020-01-03,2,5\n2020-01-06,3,6\n".encode())
    frames = load_panel(f)
    assert list(frames) == ["AAA", "BBB"]
    assert len(frames["BBB"]) == 2  # leading NaN dropped
    aligned = align_frames(list(frames.items()))
    assert [len(df) for _, df in aligned] == [2, 2]


def test_bad_values_name_column_and_date(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("Date,AAA,BBB\n2020-01-02,1,2\n2020-01-03,x,2\n")
    with pytest.raises(DataValidationError, match=r"'AAA'.*'x'.*2020-01-03"):
        load_panel(f)
    f.write_text("Date,AAA,BBB\n2020-01-02,1,2\n2020-01-03,1,2\n")
    with pytest.raises(DataValidationError, match=r"no column\(s\) \['ZZZ'\]"):
        load_panel(f, columns=["ZZZ"])


def test_not_a_panel():
    assert not is_panel(require_shared("repos", "daily", "backtrader_KO_1997-1998.csv"))
    assert clean_symbol("EWA US Equity") == "EWA" and clean_symbol(" SPY ") == "SPY"
