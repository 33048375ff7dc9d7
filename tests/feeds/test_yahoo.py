"""yahoo_frame / YahooFeed without the network: yfinance.download is monkeypatched."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import backtrader as bt
import pandas as pd
import pytest
import yfinance

from btedge.feeds import FrameData, OfflineDataError, YahooFeed, load_csv, yahoo_frame
from btedge.feeds.yahoo import cache_path
from tests.support.shared import require_shared

START, END = "1997-01-02", "1997-03-01"


def _yahoo_like(multi_level: bool) -> pd.DataFrame:
    """What yfinance returns, built from a real Yahoo CSV (KO 1997)."""
    raw = pd.read_csv(require_shared("repos/daily/backtrader_KO_1997-1998.csv"), index_col="Date", parse_dates=True)
    raw = raw.loc[START:"1997-02-28", ["Close", "High", "Low", "Open", "Volume"]]
    raw.index = raw.index.rename("Date")
    if multi_level:
        raw.columns = pd.MultiIndex.from_product([raw.columns, ["KO"]], names=["Price", "Ticker"])
    return raw


@pytest.fixture
def fake_download(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    calls: list[dict] = []

    def download(ticker, **kwargs):  # type: ignore[no-untyped-def]
        calls.append({"ticker": ticker, **kwargs})
        return _yahoo_like(multi_level=len(calls) % 2 == 0)

    monkeypatch.setattr(yfinance, "download", download)
    return calls


@pytest.fixture(autouse=True)
def _online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BTEDGE_OFFLINE", raising=False)


def _no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("yfinance.download must not be called")

    monkeypatch.setattr(yfinance, "download", refuse)


def test_download_is_cached_then_read_offline(tmp_path: Path, fake_download: list[dict],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    df = yahoo_frame("KO", START, END, cache_dir=tmp_path)
    assert len(fake_download) == 1
    call = fake_download[0]
    assert call["auto_adjust"] is True and call["interval"] == "1d" and call["progress"] is False
    expected = load_csv(require_shared("repos/daily/backtrader_KO_1997-1998.csv")).loc[START:"1997-02-28"]
    pd.testing.assert_frame_equal(df, expected, check_freq=False)
    path = cache_path("KO", START, END, cache_dir=tmp_path)
    assert path.is_file() and path.suffix == ".parquet"

    _no_download(monkeypatch)
    cached = yahoo_frame("KO", START, END, cache_dir=tmp_path, offline=True)
    pd.testing.assert_frame_equal(cached, df, check_freq=False)


def test_multi_level_columns_and_env_cache_dir(tmp_path: Path, fake_download: list[dict],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTEDGE_CACHE", str(tmp_path))
    yahoo_frame("KO", START, END)  # flat columns
    other = yahoo_frame("KO", START, "1997-02-28")  # multi-level columns (second call)
    assert len(fake_download) == 2 and len(other) > 30
    assert sorted(p.name for p in (tmp_path / "yahoo").iterdir()) == [
        "KO_1d_1997-01-02_1997-02-28_adj.parquet", "KO_1d_1997-01-02_1997-03-01_adj.parquet"]


def test_offline_without_cache_names_ticker_path_and_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_download(monkeypatch)
    monkeypatch.setenv("BTEDGE_OFFLINE", "1")
    with pytest.raises(OfflineDataError) as err:
        yahoo_frame("SPY", "2020-01-01", "2021-01-01", cache_dir=tmp_path)
    msg = str(err.value)
    assert "'SPY'" in msg and str(tmp_path / "SPY_1d_2020-01-01_2021-01-01_adj.parquet") in msg
    assert "run once online" in msg and "load_csv" in msg


def test_network_failure_is_an_offline_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(*args, **kwargs):  # type: ignore[no-untyped-def]
        import socket

        socket.create_connection(("query1.finance.yahoo.com", 443), timeout=1)  # blocked by conftest

    monkeypatch.setattr(yfinance, "download", unreachable)
    with pytest.raises(OfflineDataError, match=r"Yahoo download of 'SPY' failed .*no cache at .*Fix: check the network"):
        yahoo_frame("SPY", "2020-01-01", "2021-01-01", cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_empty_download_is_an_offline_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pd.DataFrame())
    with pytest.raises(OfflineDataError, match=r"Yahoo returned no rows for 'XXXX'"):
        yahoo_frame("XXXX", "2020-01-01", "2021-01-01", cache_dir=tmp_path)


def test_yahoo_feed_runs_in_cerebro(tmp_path: Path, fake_download: list[dict]) -> None:
    feed = YahooFeed(dataname="KO", fromdate=dt.date(1997, 1, 2), todate=dt.date(1997, 2, 28),
                     cache_dir=tmp_path)
    assert isinstance(feed, FrameData) and feed._name == "KO"
    assert fake_download[0]["end"] == pd.Timestamp("1997-03-01")  # todate inclusive
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(feed)
    cerebro.addstrategy(bt.Strategy)
    cerebro.run()
    assert len(feed) == len(yahoo_frame("KO", "1997-01-02", "1997-03-01", cache_dir=tmp_path))
    assert feed.close[0] == 61.0  # KO close 1997-02-28, line 42 of the CSV
    with pytest.raises(ValueError, match="fromdate and todate are required"):
        YahooFeed(dataname="KO", cache_dir=tmp_path)
