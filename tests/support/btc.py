"""Real BTC 1-minute bars (nautilus_trader test data), read in place from ../shared."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from tests.support.shared import require_shared

BTC_1M = ("repos", "intraday", "nautilus_btc-perp_1m_20211231-20220201.csv.gz")


@functools.lru_cache(maxsize=4)
def _read(nrows: int) -> pd.DataFrame:
    path = require_shared(*BTC_1M)
    return pd.read_csv(path, nrows=nrows, index_col="timestamp", parse_dates=True)


def btc(nrows: int = 500) -> pd.DataFrame:
    """The first ``nrows`` bars (a copy: tests may alter it)."""
    return _read(nrows).copy()


def arrays(df: pd.DataFrame) -> list[np.ndarray]:
    return [df[c].to_numpy(dtype=float) for c in ("open", "high", "low", "close", "volume")]
