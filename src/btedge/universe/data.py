"""Inputs of universe selection: a wide close table and the GICS sectors used as ground truth."""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from btedge.feeds.resolve import LoadOptions, resolve_closes

log = logging.getLogger(__name__)

#: Minimum bars a window needs for returns, volatility and clustering to mean anything.
MIN_BARS = 20


def load_closes(path: str | Path, options: LoadOptions | None = None) -> pd.DataFrame:
    """A wide close table (index = dates, one column per ticker) from a file, through the feeds
    resolver (:func:`btedge.feeds.resolve.resolve_closes`): a wide close panel, a long file with a
    symbol column (all symbols), or several assets; an OHLCV file of one asset is refused (its
    open/high/low/close are not tickers). NaN where a ticker has no price (before its listing):
    never back-filled."""
    return resolve_closes([str(path)], options)


def load_gics(path: str | Path) -> pd.Series:
    """Ticker → GICS sector from a constituents CSV with ``Symbol`` and ``GICS Sector`` columns."""
    table = pd.read_csv(path)
    missing = {"Symbol", "GICS Sector"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; need 'Symbol' and 'GICS Sector'")
    return table.drop_duplicates("Symbol").set_index("Symbol")["GICS Sector"].rename("sector")


def window(closes: pd.DataFrame, asof: str | pd.Timestamp | None = None, lookback: int | None = None) -> pd.DataFrame:
    """The closes known at ``asof`` (inclusive), the last ``lookback`` bars of them, unfilled.

    Every selection function starts here, so nothing after ``asof`` can influence its result.
    Each ticker keeps its own history: NaN before its listing or in a gap, never a back-filled or
    invented price, so statistics use only the prices it had. Tickers with fewer than
    ``MIN_BARS`` prices in the window are left out, named in a WARNING with the reason. An empty
    or too short window raises.
    """
    if not isinstance(closes, pd.DataFrame) or not isinstance(closes.index, pd.DatetimeIndex):
        raise ValueError("closes must be a wide DataFrame with a DatetimeIndex (dates × tickers)")
    if not closes.index.is_monotonic_increasing:
        raise ValueError("closes index must be sorted ascending by date; call closes.sort_index()")
    if lookback is not None and lookback < MIN_BARS:
        raise ValueError(f"lookback must be >= {MIN_BARS} bars or None (all), got {lookback!r}")
    sliced = closes if asof is None else closes.loc[: pd.Timestamp(asof)]
    if lookback is not None:
        sliced = sliced.iloc[-lookback:]
    counts = sliced.notna().sum()
    short = counts[counts < MIN_BARS]
    if len(short):
        listed = ", ".join(f"{t} ({n})" for t, n in short.items())
        log.warning("left out %d ticker(s) with fewer than %d prices up to %s (prices in the window): %s",
                    len(short), MIN_BARS, asof or "the end", listed[:500])
        sliced = sliced.drop(columns=short.index)
    if len(sliced) < MIN_BARS or sliced.shape[1] < 2:
        raise ValueError(
            f"only {len(sliced)} bars × {sliced.shape[1]} tickers up to asof={asof}; need >= {MIN_BARS} bars "
            "and 2 tickers (move --asof later or lengthen --lookback)"
        )
    if (sliced <= 0).any().any():
        raise ValueError("closes must be positive prices (log returns are taken); found a value <= 0")
    return sliced


def complete(prices: pd.DataFrame, what: str) -> pd.DataFrame:
    """The tickers priced on every bar of ``prices`` (methods that compare whole paths need them);
    the others are left out with a WARNING naming them."""
    full = prices.notna().all()
    if not full.all():
        missing = prices.columns[~full]
        log.warning("%s compares whole price paths: left out %d ticker(s) without a price on every bar of "
                    "the window (listed later, or gaps): %s", what, len(missing), ", ".join(map(str, missing))[:500])
    if int(full.sum()) < 2:
        raise ValueError(f"{what}: fewer than 2 tickers have a price on every bar of the window; shorten "
                         "--lookback or move --asof")
    return prices.loc[:, full]
