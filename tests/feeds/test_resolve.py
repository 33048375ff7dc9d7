"""feeds.resolve: --data specs to frames (issue 9 items 3, 8, 10, 12), on real files of ../shared."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btedge.feeds import OfflineDataError, load_csv
from btedge.feeds.resolve import DataSpecError, LoadOptions, pick_single, resolve_closes, resolve_datas, window
from btedge.feeds.yahoo import cache_path
from tests.support.shared import require_shared


@pytest.mark.parametrize("spec", ["nosuchfile.csv", "data/SPY", "./SPY", "~/prices.csv.gz"])
def test_a_path_that_does_not_exist_is_no_such_file_never_a_download(spec: str) -> None:
    """Item 3: with --from a ticker would download; a path-looking spec never does."""
    with pytest.raises(FileNotFoundError, match="no such file"):
        resolve_datas([spec], LoadOptions(fromdate="2020-01-01"))


def test_to_date_includes_the_whole_day_on_intraday_data() -> None:
    """Item 12: --to 2022-01-05 on the BTC perpetual 1-minute file ends at 23:59 that day."""
    path = str(require_shared("repos", "intraday", "nautilus_btc-perp_1m_20211231-20220201.csv.gz"))
    [(_, df)] = resolve_datas([path], LoadOptions(fromdate="2022-01-03", todate="2022-01-05"))
    assert df.index[0] == pd.Timestamp("2022-01-03 00:00") and df.index[-1] == pd.Timestamp("2022-01-05 23:59")
    [(_, cut)] = resolve_datas([path], LoadOptions(todate="2022-01-05 12:00"))
    assert cut.index[-1] == pd.Timestamp("2022-01-05 12:00")  # a time is a time
    assert window("2022-01-01", "2022-01-05")[1] == pd.Timestamp("2022-01-06")
    assert window(None, pd.Timestamp("2022-01-05"))[1] == pd.Timestamp("2022-01-06")  # a date as a Timestamp
    with pytest.raises(DataSpecError, match="--from 2022-01-06 is after --to 2022-01-05"):
        window("2022-01-06", "2022-01-05")


def test_yahoo_cache_key_without_to_holds_no_date_and_serves_offline(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    """Item 12: an open-ended request is cached as 'latest' (not today's date), so --offline finds
    yesterday's download; here the cache is real KO bars written two days ago."""
    key = cache_path("KO", "1997-01-02", None, cache_dir=tmp_path / "yahoo")
    assert key.name == "KO_1d_1997-01-02_latest_adj.parquet"
    assert pd.Timestamp.now().strftime("%Y-%m-%d") not in key.name
    ko = load_csv(require_shared("repos", "daily", "backtrader_KO_1997-1998.csv"))[
        ["open", "high", "low", "close", "volume"]]
    key.parent.mkdir(parents=True)
    ko.to_parquet(key)
    two_days_ago = time.time() - 2 * 86400
    os.utime(key, (two_days_ago, two_days_ago))
    os.environ["BTEDGE_CACHE"] = str(tmp_path)
    try:
        with caplog.at_level(logging.WARNING):
            [(name, df)] = resolve_datas(["KO"], LoadOptions(fromdate="1997-01-02", offline=True))
        assert name == "KO" and len(df) == len(ko) and "using the cache of" in caplog.text
        with pytest.raises(OfflineDataError, match=r"1997-01-02\.\.1998-02-01"):  # a dated request: own key
            resolve_datas(["KO"], LoadOptions(fromdate="1997-01-02", todate="1998-01-31", offline=True))
    finally:
        del os.environ["BTEDGE_CACHE"]


def test_alignment_is_reported_with_the_bars_each_feed_lost(caplog) -> None:  # type: ignore[no-untyped-def]
    """Item 10: KO (1997-98) with Yahoo's YHOO file (1996-2015) keep their 356 shared days; the
    log says how many bars each lost, at WARNING because YHOO lost more than 10 %."""
    ko = str(require_shared("repos", "daily", "backtrader_KO_1997-1998.csv"))
    yhoo = str(require_shared("repos", "backtrader", "yhoo-1996-2015.txt"))
    with caplog.at_level(logging.INFO, logger="btedge.feeds.panel"):
        frames = resolve_datas([ko, yhoo])
    assert [len(df) for _, df in frames] == [356, 356]
    assert frames[0][1].index.equals(frames[1][1].index)
    record = next(r for r in caplog.records if "aligned 2 feeds" in r.getMessage())
    assert record.levelno == logging.WARNING
    assert "backtrader_KO_1997-1998 0, yhoo-1996-2015 4609" in record.getMessage()


def test_a_panel_for_a_single_asset_strategy_needs_symbol() -> None:
    """Item 10: a wide panel gives one frame per column; one-data strategies refuse it, naming --symbol."""
    path = str(require_shared("repos", "daily", "arbitragelab_23etfs_2008-2016.csv.gz"))
    frames = resolve_datas([path])
    assert len(frames) == 23 and frames[0][0] == "EEM"
    with pytest.raises(DataSpecError, match=r"trades one data but --data gave 23.*--symbol NAME"):
        pick_single(frames, "laguerre_cross")
    [(name, spy)] = resolve_datas([path], LoadOptions(symbol="SPY"))
    assert name == "SPY" and (spy["open"] == spy["close"]).all()


def test_declared_zone_converts_exchange_times() -> None:
    """Item 2 (--tz): Stock.Indicators' SPY minutes are New York times; read as such they start
    at 14:30 UTC (winter)."""
    path = str(require_shared("repos", "intraday", "skender_SPY_1min_2020-12-15_18.csv"))
    [(_, df)] = resolve_datas([path], LoadOptions(tz="America/New_York"))
    assert df.index[0] == pd.Timestamp("2020-12-15 14:30")


def test_universe_closes_keep_each_assets_own_history() -> None:
    """Item 8: in bokeh's long file GOOG lists in 2004 and FB in 2012; their closes start there
    (no back-filled flat prices), the others' from 2000."""
    path = str(require_shared("pypi", "daily", "bokeh_AAPL_GOOG_IBM_MSFT_ohlcv_2000-2013.csv.gz"))
    closes = resolve_closes([path])
    assert list(closes.columns) == ["AAPL", "FB", "GOOG", "IBM", "MSFT"]
    assert closes["GOOG"].first_valid_index() == pd.Timestamp("2004-08-19")
    assert closes["FB"].first_valid_index() == pd.Timestamp("2012-05-18") and closes["FB"].notna().sum() == 196
    assert closes["AAPL"].first_valid_index() == pd.Timestamp("2000-03-01")
    assert np.isnan(closes.loc[:"2004-08-18", "GOOG"]).all()


def test_an_ohlcv_file_of_one_asset_is_not_a_universe() -> None:
    """Item 17: open/high/low/close of one asset are not four tickers."""
    path = str(require_shared("pypi", "daily", "arch_sp500_ohlcv_1999-2018.csv.gz"))
    with pytest.raises(DataSpecError, match=r"1 asset\(s\) \(arch_sp500_ohlcv_1999-2018\); a universe needs at least 2"):
        resolve_closes([path])


def test_a_symbol_without_bars_in_the_window_is_left_out_by_name(caplog) -> None:  # type: ignore[no-untyped-def]
    """FB lists in 2012; asked for with AAPL and GOOG up to 2010 it is left out with a warning."""
    path = str(require_shared("pypi", "daily", "bokeh_AAPL_GOOG_IBM_MSFT_ohlcv_2000-2013.csv.gz"))
    with caplog.at_level(logging.WARNING):
        frames = resolve_datas([path], LoadOptions(symbol="AAPL,FB,GOOG", todate="2010-12-31"))
    assert [name for name, _ in frames] == ["AAPL", "GOOG"]
    assert frames[0][1].index[0] == pd.Timestamp("2004-08-19")  # aligned on GOOG's listing
    assert "left out 1 column(s) with no bars between --from None and --to 2010-12-31: FB" in caplog.text


def test_adjust_flag_uses_the_adjusted_close() -> None:
    """--adjust (LoadOptions.adjust) scales NVDA's Yahoo bars by Adj Close / Close, as backtrader's
    Yahoo feed does; without it the Close is used and the unused column is logged at INFO."""
    path = str(require_shared("repos", "backtrader", "nvda-1999-2014.txt"))
    [(_, raw)] = resolve_datas([path])
    [(_, adjusted)] = resolve_datas([path], LoadOptions(adjust=True))
    assert raw["close"].iloc[-1] == pytest.approx(20.049999) and adjusted["close"].iloc[-1] == pytest.approx(19.425875)
    ratio = adjusted["close"] / raw["close"]
    assert np.allclose(adjusted["open"] / raw["open"], ratio) and np.allclose(raw["volume"] / ratio, adjusted["volume"])
