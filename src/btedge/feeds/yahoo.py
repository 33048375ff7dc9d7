"""Yahoo Finance bars through yfinance, cached on disk as parquet, safe to use offline.

The cache file is keyed by (ticker, interval, start, end, adjusted) and lives in ``cache_dir``,
else ``$BTEDGE_CACHE/yahoo``, else ``~/.cache/btedge/yahoo``. A cached request never touches the
network. A request without an end (``end=None``: up to the latest bar) is keyed ``latest``, never
by today's date: online it is downloaded again once its cache file is from an earlier UTC day;
offline the cache is used whatever its age (logged). ``offline=True`` (or ``BTEDGE_OFFLINE=1``) never downloads: a missing cache file then
raises :class:`OfflineDataError`, as does a failed or empty download, naming the ticker, the
cache path looked at and the fix.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
from pathlib import Path
from typing import Any

import backtrader as bt
import pandas as pd

from btedge.feeds.errors import OfflineDataError
from btedge.feeds.frame import FrameData
from btedge.feeds.validate import validate_ohlcv

log = logging.getLogger(__name__)

DateLike = str | dt.date | dt.datetime | pd.Timestamp
_YAHOO_COLUMNS = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Volume": "volume"}
#: yfinance interval -> (backtrader timeframe, compression).
INTERVALS: dict[str, tuple[int, int]] = {
    "1m": (bt.TimeFrame.Minutes, 1), "2m": (bt.TimeFrame.Minutes, 2), "5m": (bt.TimeFrame.Minutes, 5),
    "15m": (bt.TimeFrame.Minutes, 15), "30m": (bt.TimeFrame.Minutes, 30),
    "60m": (bt.TimeFrame.Minutes, 60), "90m": (bt.TimeFrame.Minutes, 90),
    "1h": (bt.TimeFrame.Minutes, 60), "1d": (bt.TimeFrame.Days, 1), "5d": (bt.TimeFrame.Days, 5),
    "1wk": (bt.TimeFrame.Weeks, 1), "1mo": (bt.TimeFrame.Months, 1), "3mo": (bt.TimeFrame.Months, 3),
}


def default_cache_dir() -> Path:
    """``$BTEDGE_CACHE/yahoo`` if set, else ``~/.cache/btedge/yahoo``."""
    root = os.environ.get("BTEDGE_CACHE")
    return Path(root) / "yahoo" if root else Path.home() / ".cache" / "btedge" / "yahoo"


def is_offline(offline: bool | None = None) -> bool:
    """``offline`` if given, else whether ``BTEDGE_OFFLINE`` is ``1``/``true``/``yes``."""
    if offline is not None:
        return bool(offline)
    return os.environ.get("BTEDGE_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def _stamp(value: DateLike) -> str:
    ts = pd.Timestamp(value)
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%dT%H%M%S")


def cache_path(ticker: str, start: DateLike, end: DateLike | None, interval: str = "1d",
               auto_adjust: bool = True, cache_dir: str | Path | None = None) -> Path:
    """Where :func:`yahoo_frame` caches this request (``end=None``: ``..._latest_...``)."""
    safe = re.sub(r"[^A-Za-z0-9.^=_-]", "_", ticker)
    adjusted = "adj" if auto_adjust else "raw"
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    last = "latest" if end is None else _stamp(end)
    return folder / f"{safe}_{interval}_{_stamp(start)}_{last}_{adjusted}.parquet"


def _cache_day(path: Path) -> dt.date:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.timezone.utc).date()


def _usable_cache(path: Path, end: DateLike | None, offline: bool) -> bool:
    """A cached file answers the request; an open-ended one only from today unless offline."""
    if not path.is_file():
        return False
    if end is not None:
        return True
    day = _cache_day(path)
    if day == dt.datetime.now(dt.timezone.utc).date():
        return True
    if offline:
        log.warning("Yahoo: offline; using the cache of %s written on %s (bars up to then)", path.name, day)
        return True
    return False


def _fix_hint(ticker: str) -> str:
    return (f"run once online (unset BTEDGE_OFFLINE) to fill the cache for {ticker!r}, or load a CSV "
            "with btedge.feeds.load_csv(path) and feed it with FrameData")


#: The same fix on the command line.
CLI_FIX = ("run once without --offline (and with BTEDGE_OFFLINE unset) to fill the cache, or pass "
           "--data a CSV file")


def _normalise(raw: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """yfinance frame (flat or (field, ticker) columns) -> lowercase OHLCV, UTC-naive index."""
    frame = raw
    if isinstance(frame.columns, pd.MultiIndex):
        level = next(i for i in range(frame.columns.nlevels)
                     if "Close" in frame.columns.get_level_values(i))
        frame = frame.copy()
        frame.columns = frame.columns.get_level_values(level)
    missing = [c for c in _YAHOO_COLUMNS if c not in frame.columns]
    if missing:
        raise OfflineDataError(f"Yahoo data for {ticker!r} lacks {missing}; columns are {list(frame.columns)}")
    out = frame[list(_YAHOO_COLUMNS)].rename(columns=_YAHOO_COLUMNS).astype(float)
    index = pd.DatetimeIndex(out.index)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    out.index = index.rename("datetime")
    return out.dropna(how="all")


def _download(ticker: str, start: DateLike, end: DateLike, interval: str, auto_adjust: bool,
              path: Path) -> pd.DataFrame:
    try:
        import yfinance
    except ImportError as exc:
        raise OfflineDataError(f"yfinance is not installed; cannot download {ticker!r}. "
                               f"Fix: pip install yfinance, or {_fix_hint(ticker)}", cli_fix=CLI_FIX) from exc
    log.info("Yahoo: downloading %s %s %s..%s (auto_adjust=%s)", ticker, interval, start, end, auto_adjust)
    try:
        raw = yfinance.download(ticker, start=start, end=end, interval=interval, auto_adjust=auto_adjust,
                                progress=False, threads=False, multi_level_index=False)
    except Exception as exc:  # network, DNS, HTTP, rate limit: all mean "could not get it"
        raise OfflineDataError(
            f"Yahoo download of {ticker!r} failed ({type(exc).__name__}: {exc}); no cache at {path}. "
            f"Fix: check the network and retry, or {_fix_hint(ticker)}", cli_fix=CLI_FIX) from exc
    if raw is None or len(raw) == 0:
        raise OfflineDataError(
            f"Yahoo returned no rows for {ticker!r} {interval} {start}..{end} (network failure, unknown "
            f"ticker or empty range); no cache at {path}. Fix: check the ticker and dates, or {_fix_hint(ticker)}", cli_fix=CLI_FIX)
    return raw


def _write_cache(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    df.to_parquet(tmp)
    os.replace(tmp, path)
    log.info("Yahoo: cached %d bars at %s", len(df), path)


def yahoo_frame(ticker: str, start: DateLike, end: DateLike | None = None, interval: str = "1d",
                cache_dir: str | Path | None = None, offline: bool | None = None, *,
                auto_adjust: bool = True) -> pd.DataFrame:
    """Yahoo OHLCV bars ``start <= t < end`` (yfinance's convention), cached on disk.

    Args:
        ticker: Yahoo symbol, e.g. ``"SPY"``, ``"^GSPC"``, ``"BTC-USD"``.
        start: first day (inclusive).
        end: last day (exclusive); None: up to the latest bar (cached as ``latest``, see above).
        interval: a yfinance interval, one of :data:`INTERVALS`.
        cache_dir: cache folder; default ``$BTEDGE_CACHE/yahoo`` or ``~/.cache/btedge/yahoo``.
        offline: never download; default ``BTEDGE_OFFLINE=1``.
        auto_adjust: passed to yfinance explicitly (True: split/dividend-adjusted OHLC).

    Returns:
        Validated float ``open, high, low, close, volume`` on a UTC-naive ``datetime`` index.

    Raises:
        OfflineDataError: offline with no cache file, or the download failed or came back
            empty; names the ticker, the cache path looked at and the fix.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {list(INTERVALS)}, got {interval!r}")
    path = cache_path(ticker, start, end, interval, auto_adjust, cache_dir)
    if _usable_cache(path, end, is_offline(offline)):
        log.info("Yahoo: %s from cache %s", ticker, path)
        return validate_ohlcv(pd.read_parquet(path), source=str(path))
    if is_offline(offline):
        raise OfflineDataError(
            f"offline (offline=True or BTEDGE_OFFLINE=1) and no cached Yahoo data for {ticker!r} "
            f"{interval} {start}..{end or 'latest'} at {path}. Fix: {_fix_hint(ticker)}", cli_fix=CLI_FIX)
    df = validate_ohlcv(_normalise(_download(ticker, start, end, interval, auto_adjust, path), ticker),
                        source=f"yahoo:{ticker}")
    _write_cache(df, path)
    return df


class YahooFeed(FrameData):
    """
    A :class:`FrameData` over :func:`yahoo_frame`: ``YahooFeed(dataname="SPY", fromdate=...,
    todate=...)``, like ``bt.feeds.YahooFinanceData`` but cached and offline-safe.

    The download happens at construction, so a missing cache fails before the run. ``todate``
    is inclusive (the request ends the day after). ``timeframe``/``compression`` follow
    ``interval``. A DataFrame ``dataname`` is used as is.

    Params: ``interval`` (yfinance interval, ``"1d"``), ``cache_dir`` (None: default cache),
    ``offline`` (None: ``BTEDGE_OFFLINE``), ``auto_adjust`` (True), plus FrameData's.

    See: :func:`yahoo_frame`; https://github.com/ranaroussi/yfinance
    """

    params = (("interval", "1d"), ("cache_dir", None), ("offline", None), ("auto_adjust", True))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ticker = self.p.dataname
        if not isinstance(ticker, str):
            return
        if self.p.fromdate is None or self.p.todate is None:
            raise ValueError("YahooFeed: fromdate and todate are required (datetime.date or datetime)")
        self.p.timeframe, self.p.compression = INTERVALS.get(self.p.interval, (self.p.timeframe, self.p.compression))
        end = pd.Timestamp(self.p.todate).normalize() + pd.Timedelta(days=1)
        self.p.dataname = yahoo_frame(ticker, self.p.fromdate, end, self.p.interval, self.p.cache_dir,
                                      self.p.offline, auto_adjust=self.p.auto_adjust)
        self._name = self._name or ticker
