from __future__ import annotations

import pandas as pd
import pytest

from btedge.testing import require_shared


def read_bt_csv(path) -> pd.DataFrame:
    """backtrader's generic CSV (Date[,Time],Open,...,OpenInterest) as a lower-case OHLCV frame."""
    raw = pd.read_csv(path)
    stamp = raw["Date"] + (" " + raw["Time"] if "Time" in raw else "")
    df = raw.drop(columns=[c for c in ("Date", "Time") if c in raw]).set_index(pd.DatetimeIndex(stamp))
    df.columns = [str(c).lower() for c in df.columns]
    return df


@pytest.fixture(scope="session")
def day2006() -> pd.DataFrame:
    """backtrader's own test data (2006 daily index), read in place."""
    return read_bt_csv(require_shared("repos", "backtrader", "2006-day-001.txt"))


@pytest.fixture(scope="session")
def min2006() -> pd.DataFrame:
    """backtrader's 5-minute test data (2,142 bars), read in place."""
    return read_bt_csv(require_shared("repos", "backtrader", "2006-min-005.txt"))
