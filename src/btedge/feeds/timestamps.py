"""Timestamps and bar spacing: the one owner of both.

Parsing (date-format guess, gzip sniffing, timestamp-column detection by name and content,
banner-line skipping) and bar spacing (timeframe, compression and periods per year from trading
sessions) are inferred here and nowhere else.
"""
from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import logging
import re
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence, TextIO

import numpy as np
import pandas as pd

from btedge.feeds.errors import DataValidationError

log = logging.getLogger(__name__)

# --- parsing -----------------------------------------------------------------------------------
#: Header names (normalised: lowercase, ``_`` read as space, BOM and quotes stripped) that hold
#: a full timestamp, a date only, or a time of day.
DATETIME_NAMES = ("datetime", "date time", "timestamp", "time stamp", "open time", "gmt time", "local time",
                  "timestamp utc", "datetime utc", "datetime (utc)", "date (utc)", "time (utc)", "time utc",
                  "utc time", "timestamp (utc)", "dt", "date and time")
DATE_NAMES = ("date", "dates", "day", "trade date")
TIME_NAMES = ("time",)
#: Date part patterns (full match) and their strptime formats; ``None`` = decided by day-first.
DATE_FORMATS: tuple[tuple[str, str | None], ...] = (
    (r"\d{4}-\d{1,2}-\d{1,2}", "%Y-%m-%d"),
    (r"\d{8}", "%Y%m%d"),
    (r"(?:19|20)\d{12}", "%Y%m%d%H%M%S"),
    (r"(?:19|20)\d{10}", "%Y%m%d%H%M"),
    (r"\d{1,2}\.\d{1,2}\.\d{4}", "%d.%m.%Y"),
    (r"\d{4}/\d{1,2}/\d{1,2}", "%Y/%m/%d"),
    (r"\d{1,2}-[A-Za-z]{3}-\d{4}", "%d-%b-%Y"),
    (r"\d{1,2}-[A-Za-z]{3}-\d{2}", "%d-%b-%y"),
    (r"\d{1,2}/\d{1,2}/\d{4}", None),
    (r"\d{1,2}/\d{1,2}/\d{2}", None),
)
#: Time part patterns (full match) and their strptime formats.
TIME_FORMATS: tuple[tuple[str, str], ...] = (
    (r"\d{1,2}:\d{2}", "%H:%M"),
    (r"\d{1,2}:\d{2}:\d{2}", "%H:%M:%S"),
    (r"\d{1,2}:\d{2}:\d{2}\.\d+", "%H:%M:%S.%f"),
    (r"\d{6}", "%H%M%S"),
    (r"\d{4}", "%H%M"),
    (r"\d{1,2}-(?:AM|PM|am|pm)", "%I-%p"),
    (r"\d{1,2}:\d{2} ?(?:AM|PM|am|pm)", "%I:%M %p"),
)
#: Epoch units by magnitude of the largest value (seconds up to ~5138 AD, then ms, us, ns).
EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"), (float("inf"), "ns"))
TIME_LIKE = re.compile(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?|\d{6}")
_TZ_SUFFIX = re.compile(r"(?:[+-]\d{2}:?\d{2}|Z| UTC)$")
_SEPARATORS = (",", ";", "\t", "|")


def is_gzip(path: str | Path) -> bool:
    """True when the file starts with the gzip magic bytes (whatever its name)."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def open_text(path: str | Path) -> TextIO:
    """The file as text, gunzipped when it is gzip (sniffed, not by suffix), BOM dropped."""
    opener = gzip.open if is_gzip(path) else open
    return opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="")  # type: ignore[return-value]


#: What reading a damaged gzip stream raises: cut short (an interrupted download or copy), a
#: bad header, a bad CRC or a corrupt deflate block.
GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


@contextmanager
def gzip_errors(path: str | Path) -> Iterator[None]:
    """Read ``path`` inside this: a truncated or corrupt gzip stream becomes one
    :class:`~btedge.feeds.errors.DataValidationError` naming the file, what is wrong and the fix,
    instead of gzip's ``EOFError`` traceback.

    Example::

        with gzip_errors(path):
            frame = pd.read_csv(path, compression="gzip")
    """
    try:
        yield
    except GZIP_ERRORS as exc:
        fix = f"download or copy the file again (`gzip -t {path}` checks a copy)"
        raise DataValidationError(
            f"{path}: the gzip file is truncated or corrupt ({type(exc).__name__}: {exc}); an interrupted "
            f"download or copy leaves such a file. Fix: {fix}", cli_fix=fix) from None


def read_head(path: str | Path, count: int = 40) -> tuple[list[str], list[int]]:
    """The first ``count`` non-blank lines and their 0-based physical line numbers.

    Raises:
        DataValidationError: a gzip file that ends (or breaks) within those lines.
    """
    lines, numbers = [], []
    with gzip_errors(path), open_text(path) as fh:
        for number, line in enumerate(fh):
            if line.strip():
                lines.append(line.rstrip("\r\n"))
                numbers.append(number)
            if len(lines) >= count:
                break
    return lines, numbers


def detect_sep(lines: Sequence[str]) -> str:
    """The separator (``, ; tab |``) found the same number of times on every line of the tail."""
    tail = lines[len(lines) // 2:] or lines
    best, best_count = ",", 0
    for sep in _SEPARATORS:
        counts = {line.count(sep) for line in tail}
        if len(counts) == 1 and (count := counts.pop()) > best_count:
            best, best_count = sep, count
    return best


def split_line(line: str, sep: str) -> list[str]:
    """One CSV line split on ``sep`` (quotes respected)."""
    return next(csv.reader([line], delimiter=sep))


def normalise_name(name: object) -> str:
    """Header text as compared: BOM, quotes and spaces stripped, lowercase, ``_`` read as space."""
    return str(name).replace("\ufeff", "").strip().strip('"').lower().replace("_", " ")


def stamp_role(name: object) -> str | None:
    """``'datetime'``, ``'date'`` or ``'time'`` for a header name that holds one, else None."""
    text = normalise_name(name)
    for role, names in (("datetime", DATETIME_NAMES), ("date", DATE_NAMES), ("time", TIME_NAMES)):
        if text in names:
            return role
    return None


def is_number(text: str) -> bool:
    """True when ``text`` reads as a float."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def looks_like_data(row: Sequence[str]) -> bool:
    """A data row: after the first field, numbers (or blanks) in all but at most one field."""
    values = [f.strip() for f in row[1:]]
    numbers = sum(is_number(f) for f in values)
    return len(row) > 1 and numbers >= 1 and numbers + values.count("") >= len(row) - 2


def table_start(rows: Sequence[Sequence[str]], known_names: Callable[[Sequence[str]], int]) -> tuple[int, bool]:
    """Skip banner lines: the index of the first header or data row, and whether it is a header.

    A banner (a vendor's note above the header, like CryptoDataDownload's ``Timestamps are UTC
    timezone,https://...``) is a line that is neither data nor header-like: too few fields for the
    table and fewer than two known column names (``known_names`` counts them).

    Raises:
        ValueError: no header or data line among ``rows``.
    """
    width = Counter(len(r) for r in rows[len(rows) // 2:]).most_common(1)[0][0]
    for i, row in enumerate(rows):
        if looks_like_data(row) and len(row) == width:
            return i, False
        if not looks_like_data(row) and (len(row) >= width - 1 or known_names(row) >= 2):
            return i, True
    raise ValueError(f"no header or data line in the first {len(rows)} lines")


def looks_like_timestamps(values: Sequence[str]) -> bool:
    """True when every non-blank value parses as a date or timestamp (not plain numbers)."""
    sample = pd.Series([str(v).strip() for v in values if str(v).strip()], dtype="string")
    if sample.empty or sample.map(is_number).all():
        return False
    try:
        stamps, _ = parse_timestamps(sample)
    except ValueError:
        return False
    return not bool(pd.isna(stamps).any())


def find_stamp_column(names: Sequence[str], rows: Sequence[Sequence[str]]) -> str | None:
    """The column whose values (in ``rows``) are all timestamps, by content; None if none is.

    Used when no header name says which column holds the time (an unnamed index column,
    ``Microsoft Date``, a vendor's own name).
    """
    for k, name in enumerate(names):
        values = [row[k] for row in rows if len(row) > k]
        if values and looks_like_timestamps(values):
            return name
    return None


def _ambiguous_dayfirst(values: pd.Series, fmt_year: str) -> bool:
    """Day-first for ``a/b/Y`` dates: a first part over 12 says yes, a second part over 12 says no;
    otherwise the reading that puts the dates in increasing order wins (month-first on a tie)."""
    parts = values.str.extract(r"^(\d{1,2})/(\d{1,2})/").astype(float)
    if bool((parts[0] > 12).any()):
        return True
    if bool((parts[1] > 12).any()):
        return False
    dates = values.str.split(" ").str[0]
    day = pd.to_datetime(dates, format=f"%d/%m/{fmt_year}", errors="coerce")
    month = pd.to_datetime(dates, format=f"%m/%d/{fmt_year}", errors="coerce")
    return bool(day.is_monotonic_increasing) and not bool(month.is_monotonic_increasing)


def _date_format(date_part: str, values: pd.Series, dayfirst: bool | None) -> str | None:
    for pattern, fmt in DATE_FORMATS:
        if re.fullmatch(pattern, date_part):
            if fmt is not None:
                return fmt
            year = "%Y" if re.fullmatch(r".*/\d{4}", date_part) else "%y"
            first = _ambiguous_dayfirst(values, year) if dayfirst is None else dayfirst
            return f"%d/%m/{year}" if first else f"%m/%d/{year}"
    return None


def guess_format(values: pd.Series, dayfirst: bool | None = None) -> str:
    """strptime format of timestamp strings, from the first value (and all of them for a/b/Y).

    ``'ISO8601'`` for ISO text and text with a zone suffix, and when no known pattern matches.
    """
    first = str(values.iloc[0]).strip()
    if _TZ_SUFFIX.search(first) or "T" in first:
        return "ISO8601"
    date_part, _, time_part = first.partition(" ")
    date_fmt = _date_format(date_part, values.astype("string").str.strip(), dayfirst)
    if date_fmt is None:
        return "ISO8601"
    if not time_part:
        return date_fmt
    time_fmt = next((fmt for pattern, fmt in TIME_FORMATS if re.fullmatch(pattern, time_part.strip())), None)
    return "ISO8601" if time_fmt is None else f"{date_fmt} {time_fmt}"


def epoch_unit(values: pd.Series) -> str | None:
    """Unit of an all-numeric timestamp column, or None when it is not epoch (YYYYMMDD[HHMM[SS]])."""
    if len(values) and pd.isna(pd.to_numeric(values.iloc[:1], errors="coerce")).all():
        return None  # the first is not a number (a date): not epoch, without converting every row
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any():
        return None
    top = float(numbers.abs().max())
    if 1e7 <= top < 1e8:  # 8 digits: YYYYMMDD
        return None
    if values.astype("string").str.fullmatch(r"(?:19|20)\d{10}(?:\d{2})?").all():
        return None
    return next(unit for limit, unit in EPOCH_UNITS if top < limit)


def parse_timestamps(values: pd.Series, *, date_format: str | None = None, dayfirst: bool | None = None,
                     epoch: str | None = None) -> tuple[pd.DatetimeIndex, str]:
    """Timestamps from text (or epoch numbers): the one date parser of btedge.

    Args:
        values: the timestamp strings (a date and a time joined by a space are fine).
        date_format: strptime format, or ``'ISO8601'``; default guessed by :func:`guess_format`.
        dayfirst: for ``a/b/Y`` dates; default decided from the values.
        epoch: ``'s'``/``'ms'``/``'us'``/``'ns'`` for numbers; default from their magnitude.

    Returns:
        The index (UTC-aware when the text carries an offset, else naive; NaT where a value does
        not parse) and the format used, for messages.
    """
    text = values.astype("string").str.strip()
    unit = epoch or (None if date_format else epoch_unit(text))
    if unit:
        return pd.DatetimeIndex(pd.to_datetime(pd.to_numeric(text, errors="coerce"), unit=unit, utc=True)), f"epoch {unit}"
    fmt = date_format or guess_format(text, dayfirst)
    try:
        stamps = pd.to_datetime(text, format=fmt, errors="coerce")
    except ValueError:  # mixed offsets: read as UTC
        stamps = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
    return pd.DatetimeIndex(stamps), fmt


# --- bar spacing -------------------------------------------------------------------------------
#: backtrader's ``TimeFrame`` numbers (``bt.TimeFrame.Seconds`` ... ``Years``), so that spacing
#: needs no backtrader import.
SECONDS, MINUTES, DAYS, WEEKS, MONTHS, YEARS = 3, 4, 5, 6, 7, 8
TRADING_DAYS = 252.0  # sessions a year where markets close at weekends (stocks, futures, FX)
CALENDAR_DAYS = 365.0  # sessions a year where markets trade every day (crypto)
#: Bars at least this far apart are daily (or longer) bars.
_DAILY = pd.Timedelta(hours=20)
#: (minimum median spacing, timeframe, compression, periods per year) for bars of a week or longer.
_LONG_BARS = (
    (pd.Timedelta(days=300), YEARS, 1, 1.0),
    (pd.Timedelta(days=80), MONTHS, 3, 4.0),
    (pd.Timedelta(days=25), MONTHS, 1, 12.0),
    (pd.Timedelta(days=5), WEEKS, 1, 52.0),
)
#: A pause between bars that ends a session: at least this long, and at least 4 bars long.
_SESSION_BREAK = pd.Timedelta(hours=2)
_DAY_NS = 86_400 * 10**9


@dataclass(frozen=True)
class BarSpacing:
    """What the timestamps of a series say about its bars (see :func:`infer_spacing`).

    Attributes:
        bar: median spacing of the bars.
        timeframe, compression: the backtrader ``TimeFrame`` and compression of that spacing.
        periods_per_year: bars in a year, ``bars_per_session * sessions_per_year``.
        bars_per_session: typical bars in one session (median over the complete sessions).
        sessions_per_year: 365 when the market trades at weekends, else 252 (1 for long bars).
        sessions: sessions (trading days) in the series, see :meth:`session_labels`.
        doubts: what the timestamps cannot tell about ``periods_per_year`` (logged at WARNING
            once per series): a span of fewer than three sessions, or round-the-clock sessions
            with no weekend day in the span.
    """

    bar: pd.Timedelta
    timeframe: int
    compression: int
    periods_per_year: float
    bars_per_session: float
    sessions_per_year: float
    sessions: int
    doubts: tuple[str, ...] = ()

    def session_labels(self, index: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """The trading day of each timestamp of ``index`` (sorted): the date at the middle of
        its session. A session is the bars between two pauses of at least 2 h (and 4 bars); one
        longer than a day (FX from Sunday 22:00 to Friday 22:00, 24/7 crypto) is cut into days
        from its first bar. So US extended hours in UTC (09:00 to 01:00) are one session, and
        FX's Sunday-evening open belongs to Monday."""
        stamps = _utc_naive(index)
        if self.bars_per_session == 1.0:
            return stamps.normalize()
        return _session_labels(stamps, self.bar)

    @property
    def timeframe_name(self) -> str:
        """The bar size as text for tables: ``'1 min'``, ``'4 h'``, ``'1 day'``."""
        return _bar_name(self.timeframe, self.compression)


def _utc_naive(index: object) -> pd.DatetimeIndex:
    try:
        stamps = pd.DatetimeIndex(index)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"bar spacing needs timestamps, got {type(index).__name__} ({exc}); "
            "pass a DatetimeIndex or set periods_per_year explicitly"
        ) from None
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    return stamps.as_unit("ns")


def _session_labels(stamps: pd.DatetimeIndex, bar: pd.Timedelta) -> pd.DatetimeIndex:
    ns = stamps.asi8
    pause = max(_SESSION_BREAK, 4 * bar).value
    session = np.concatenate([[0], np.cumsum(np.diff(ns) >= pause)])
    first = np.concatenate([[0], np.flatnonzero(np.diff(session)) + 1])
    day = (ns - ns[first][session]) // _DAY_NS  # days since the session's first bar
    key = session * (int(day.max()) + 1) + day
    starts = np.concatenate([[0], np.flatnonzero(np.diff(key)) + 1])
    ends = np.append(starts[1:], len(ns)) - 1
    middles = pd.DatetimeIndex(ns[starts] + (ns[ends] - ns[starts]) // 2).normalize()
    return pd.DatetimeIndex(np.repeat(middles.asi8, ends - starts + 1)).as_unit("ns")


def _bar_name(timeframe: int, compression: int) -> str:
    if timeframe == SECONDS:
        return f"{compression} s"
    if timeframe == MINUTES:
        return f"{compression // 60} h" if compression % 60 == 0 else f"{compression} min"
    unit = {DAYS: "day", WEEKS: "week", MONTHS: "month", YEARS: "year"}[timeframe]
    return f"{compression} {unit}" + ("s" if compression > 1 else "")


def _timeframe(bar: pd.Timedelta) -> tuple[int, int]:
    seconds = bar.total_seconds()
    if seconds < 60:
        return SECONDS, max(1, round(seconds))
    return MINUTES, max(1, round(seconds / 60))


def trades_weekends(days: pd.DatetimeIndex) -> bool:
    """True when at least half of the Saturdays, and at least half of the Sundays, in the span of
    ``days`` (trading-day labels) have a session (crypto). A vendor's Sunday bar for FX or a
    Sunday-to-Thursday market is not enough; a span without a weekend day (a slice from Monday
    to Friday) reads as a weekday market."""
    days = days.unique()
    span = pd.date_range(days.min(), days.max(), freq="D")
    kinds = [day for day in (5, 6) if (span.day_of_week == day).any()]
    return bool(kinds) and all(
        (days.day_of_week == day).sum() >= 0.5 * (span.day_of_week == day).sum() for day in kinds
    )


def _bars_per_session(labels: pd.DatetimeIndex) -> tuple[float, int]:
    """Median bars per session over the complete sessions (the first and last of three or more
    are left out: a slice usually cuts them), and the number of sessions."""
    counts = pd.Series(1, index=labels).groupby(level=0).size().to_numpy()
    inner = counts[1:-1] if len(counts) >= 3 else counts
    return float(np.median(inner)) if len(counts) >= 3 else float(inner.max()), len(counts)


def infer_spacing(index: object) -> BarSpacing:
    """
    Bar size, backtrader timeframe and compression, and periods per year of a series of bars,
    from its timestamps: the one place btedge infers them.

    Periods per year come from trading sessions, not from calendar spacing: bars per session
    (the median over complete sessions, so missing bars count as missing and a half day does
    not move it) times sessions per year (365 when the market trades at weekends, 252
    otherwise). Sessions are those of :meth:`BarSpacing.session_labels`, so sessions that cross
    midnight UTC (US extended hours in UTC, FX opening Sunday 22:00) stay whole. Bars of 20 h or
    more are daily (252 or 365 a year); of 5 days or more weekly (52), 25 days monthly (12),
    80 days quarterly (4), 300 days yearly (1).

    Examples: 1-minute crypto 1440 * 365 = 525,600; 4-hour crypto 6 * 365 = 2,190; daily stocks
    252; 1-minute US equities in regular hours 391 * 252 = 98,532.

    Raises:
        ValueError: fewer than three distinct timestamps, or not timestamps at all.
    """
    stamps = _utc_naive(index).dropna().unique().sort_values()
    if len(stamps) < 3:
        raise ValueError(
            f"bar spacing needs at least 3 distinct timestamps, got {len(stamps)}; "
            "pass periods_per_year explicitly (--periods-per-year on the CLI)"
        )
    bar = pd.Timedelta(int(np.median(np.diff(stamps.asi8))))
    for least, timeframe, compression, periods in _LONG_BARS:
        if bar >= least:
            return BarSpacing(bar, timeframe, compression, periods, 1.0, periods, len(stamps))
    if bar >= _DAILY:
        days = stamps.normalize()
        per_year = CALENDAR_DAYS if trades_weekends(days) else TRADING_DAYS
        return BarSpacing(bar, DAYS, 1, per_year, 1.0, per_year, len(days.unique()))
    key = hashlib.blake2b(stamps.asi8.tobytes(), digest_size=16).digest()
    if key not in _INTRADAY_SEEN:
        _INTRADAY_SEEN[key] = _intraday_spacing(stamps, bar)
        while len(_INTRADAY_SEEN) > 16:
            _INTRADAY_SEEN.pop(next(iter(_INTRADAY_SEEN)))
    return _INTRADAY_SEEN[key]


#: Spacing of the last intraday series seen: a run asks for it from the engine, the analyzers and
#: the report, and its doubts are logged once.
_INTRADAY_SEEN: dict[bytes, BarSpacing] = {}


def _intraday_spacing(stamps: pd.DatetimeIndex, bar: pd.Timedelta) -> BarSpacing:
    labels = _session_labels(stamps, bar)
    per_session, sessions = _bars_per_session(labels)
    per_year = CALENDAR_DAYS if trades_weekends(labels) else TRADING_DAYS
    timeframe, compression = _timeframe(bar)
    spacing = BarSpacing(bar, timeframe, compression, per_session * per_year, per_session, per_year, sessions)
    doubts = tuple(f"{doubt}; pass periods_per_year explicitly (--periods-per-year on the CLI)"
                   for doubt in _annualisation_doubts(spacing, labels))
    for doubt in doubts:
        log.warning("%s", doubt)
    return dataclasses.replace(spacing, doubts=doubts)


def _annualisation_doubts(spacing: BarSpacing, labels: pd.DatetimeIndex) -> list[str]:
    """What the timestamps cannot tell: a session length from fewer than three sessions (a slice
    may hold part of one), and, for round-the-clock sessions, a span without a weekend day
    (24/7 crypto and weekday FX look the same from Monday to Friday)."""
    doubts = []
    if spacing.sessions < 3:
        doubts.append(
            f"only {spacing.sessions} session(s) in the data: {spacing.bars_per_session:.0f} bars a session "
            f"may be part of one, so {spacing.periods_per_year:,.0f} periods a year may be too few"
        )
    days = pd.date_range(labels.min(), labels.max(), freq="D")
    round_the_clock = spacing.bars_per_session * spacing.bar >= _DAILY
    if round_the_clock and not (days.day_of_week >= 5).any():
        doubts.append(
            "no Saturday or Sunday in the span of round-the-clock sessions: a weekday market (252 sessions "
            f"a year, assumed) cannot be told from a 24/7 one (365); {spacing.periods_per_year:,.0f} periods a year"
        )
    return doubts


def infer_periods_per_year(index: object) -> float:
    """``infer_spacing(index).periods_per_year``: periods per year from trading sessions."""
    return infer_spacing(index).periods_per_year
