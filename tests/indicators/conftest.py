from __future__ import annotations

import pandas as pd
import pytest

from btedge.feeds import load_csv
from tests.support.shared import require_shared


@pytest.fixture(scope="session")
def day2006() -> pd.DataFrame:
    """backtrader's own test data (2006 daily index), read in place."""
    return load_csv(require_shared("repos", "backtrader", "2006-day-001.txt"))


@pytest.fixture(scope="session")
def min2006() -> pd.DataFrame:
    """backtrader's 5-minute test data (2,142 bars), read in place."""
    return load_csv(require_shared("repos", "backtrader", "2006-min-005.txt"))
