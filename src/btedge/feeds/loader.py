"""Load OHLCV CSV files of many layouts into one normalised, validated DataFrame.

:func:`load_csv` sniffs the layout from the first lines (separator, banner lines, header or
not, split date/time columns) and the timestamp format from the first value, reads the file with
``pandas.read_csv`` and returns lowercase float ``open, high, low, close, volume`` (plus
``openinterest`` when the file has it) on an ascending, UTC-naive ``DatetimeIndex`` named
``datetime``. The recognised column names and timestamp formats are the tables below; any
guess can be overridden (see :data:`OVERRIDES`).
"""
from __future__ import annotations

import csv
import gzip
import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from btedge.feeds.errors import DataValidationError
from btedge.feeds.validate import validate_ohlcv

log = logging.getLogger(__name__)

#: Column roles and the header names (lowercase, ``_`` read as space, BOM stripped) that fill them.
#: No one-letter names: in a wide file of closes "C", "L", "O", "V" are tickers.
ALIASES: dict[str, tuple[str, ...]] = {
    "datetime": ("datetime", "date time", "timestamp", "time stamp", "open time", "gmt time",
                 "local time", "timestamp utc"),
    "date": ("date", "dates", "day", "trade date"),
    "time": ("time",),
    "open": ("open", "open price"),
    "high": ("high", "high price"),
    "low": ("low", "low price"),
    "close": ("close", "close price", "last", "price"),
    "volume": ("volume", "vol", "tick volume", "tickvol"),
    "openinterest": ("openinterest", "open interest", "oi"),
    "adjclose": ("adj close", "adjclose", "adjusted close"),
    "symbol": ("symbol", "ticker", "pair", "instrument", "asset", "code"),
}
PRICE_ROLES = ("open", "high", "low", "close")
OUTPUT_ROLES = (*PRICE_ROLES, "volume", "openinterest")
#: Positional names for files without a header, by the number of value fields after the timestamp.
HEADERLESS = {4: PRICE_ROLES, 5: (*PRICE_ROLES, "volume"), 6: (*PRICE_ROLES, "volume", "openinterest")}

#: Date part patterns (full match) and their strptime formats; ``None`` = decided by day-first.
DATE_FORMATS: tuple[tuple[str, str | None], ...] = (
    (r"\d{4}-\d{1,2}-\d{1,2}", "%Y-%m-%d"),
    (r"\d{8}", "%Y%m%d"),
    (r"(?:19|20)\d{12}", "%Y%m%d%H%M%S"),
    (r"(?:19|20)\d{10}", "%Y%m%d%H%M"),
    (r"\d{1,2}\.\d{1,2}\.\d{4}", "%d.%m.%Y"),
    (r"\d{4}/\d{1,2}/\d{1,2}", "%Y/%m/%d"),
    (r"\d{1,2}/\d{1,2}/\d{4}", None),
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
_TZ_SUFFIX = re.compile(r"(?:[+-]\d{2}:?\d{2}|Z| UTC)$")
_TIME_LIKE = re.compile(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?|\d{6}")
#: Epoch units by magnitude of the largest value (seconds up to ~5138 AD, then ms, us, ns).
EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"), (float("inf"), "ns"))

#: Keyword overrides accepted by :func:`load_csv`.
OVERRIDES = {
    "sep": "field separator, e.g. ';'",
    "skiprows": "lines to skip before the header (or the first data line)",
    "header": "True/False: whether the first kept line is a header",
    "names": "column names to use instead of the header / positional guess",
    "datetime": "timestamp column name, or a list [date column, time column]",
    "date_format": "strptime format of the (joined) timestamp, or 'ISO8601'",
    "dayfirst": "True/False for ambiguous d/m/Y vs m/d/Y dates",
    "epoch": "unit of numeric timestamps: 's', 'ms', 'us' or 'ns'",
    "open": "column name", "high": "column name", "low": "column name", "close": "column name",
    "volume": "column name", "openinterest": "column name", "adjclose": "column name",
    "symbol_column": "column that holds the symbol in a long-format file",
    "adjust": "True: scale OHLC (and volume, inversely) by adj close / close, as backtrader's Yahoo feed",
    "bounds": "'warn' (default), 'raise' or 'widen' for open/close outside [low, high]",
    "sort": "True: sort rows by time when some are out of order (logged), instead of raising",
}
_SEPARATORS = (",", ";", "\t", "|")
_SNIFF_LINES = 40


@dataclass
class _Layout:
    """What sniffing found: how to call read_csv and the normalised column names."""

    sep: str
    skip: int  # physical lines before the first data line
    names: list[str]  # original names (header text, or positional roles)


def _normalise(name: object) -> str:
    return str(name).replace("\ufeff", "").strip().strip('"').lower().replace("_", " ")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_text(path: Path) -> TextIO:
    opener = gzip.open if _is_gzip(path) else open
    return opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="")  # type: ignore[return-value]


def _head(path: Path) -> tuple[list[str], list[int]]:
    """The first non-blank lines and their 0-based physical line numbers."""
    lines, numbers = [], []
    with _open_text(path) as fh:
        for number, line in enumerate(fh):
            if line.strip():
                lines.append(line.rstrip("\r\n"))
                numbers.append(number)
            if len(lines) >= _SNIFF_LINES:
                break
    if not lines:
        raise DataValidationError(f"{path}: the file is empty. Fix: check the path")
    return lines, numbers


def _detect_sep(lines: list[str]) -> str:
    tail = lines[len(lines) // 2:] or lines
    best, best_count = ",", 0
    for sep in _SEPARATORS:
        counts = {line.count(sep) for line in tail}
        if len(counts) == 1 and (count := counts.pop()) > best_count:
            best, best_count = sep, count
    return best


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_like_data(row: list[str]) -> bool:
    values = [f.strip() for f in row[1:]]
    numbers = sum(_is_number(f) for f in values)
    return len(row) > 1 and numbers >= 1 and numbers + values.count("") >= len(row) - 2


def _known_names(row: list[str]) -> int:
    """How many fields are column names from :data:`ALIASES` (tells a header from a banner)."""
    known = {alias for aliases in ALIASES.values() for alias in aliases}
    return sum(_normalise(f) in known for f in row)


def _split(line: str, sep: str) -> list[str]:
    return next(csv.reader([line], delimiter=sep))


def _sniff(path: Path, overrides: dict[str, Any]) -> _Layout:
    lines, physical = _head(path)
    sep = overrides.get("sep") or _detect_sep(lines)
    rows = [_split(line, sep) for line in lines]
    width = Counter(len(r) for r in rows[len(rows) // 2:]).most_common(1)[0][0]
    if "skiprows" in overrides or "header" in overrides:
        skip = int(overrides.get("skiprows", 0))
        i = next((k for k, number in enumerate(physical) if number >= skip), len(rows))
        if i + bool(overrides.get("header", True)) >= len(rows):
            raise DataValidationError(f"{path}: no data rows after skiprows={skip}. Fix: check skiprows")
        header = overrides.get("header", not _looks_like_data(rows[i]))
        names = overrides.get("names") or (_header_names(rows[i], rows[i + 1], path) if header
                                           else _positional_names(rows[i], path))
        return _Layout(sep, physical[i] + bool(header), list(names))
    for i, row in enumerate(rows):
        if _looks_like_data(row) and len(row) == width:
            names = overrides.get("names") or _positional_names(row, path)
            return _Layout(sep, physical[i], list(names))
        if not _looks_like_data(row) and (len(row) >= width - 1 or _known_names(row) >= 2):
            if i + 1 == len(rows):
                raise DataValidationError(f"{path}: a header ({lines[i][:80]!r}) but no data rows. "
                                          "Fix: check the file")
            if i:
                log.info("%s: skipping %d banner line(s): %r", path, i, lines[0][:80])
            names = overrides.get("names") or _header_names(row, rows[i + 1], path)
            return _Layout(sep, physical[i] + 1, list(names))
    raise DataValidationError(
        f"{path}: cannot find a header or data line in the first {len(lines)} lines "
        f"(separator {sep!r}). Fix: pass sep=..., skiprows=... and header=True/False"
    )


def _header_names(header: list[str], first_row: list[str], path: Path) -> list[str]:
    names = [h.replace("\ufeff", "").strip() for h in header]
    if len(first_row) == len(names) + 1:
        # backtrader's 2006-01-02-volume-min-001.txt: header "Date,Open,...", rows "date,time,..."
        normalised = [_normalise(n) for n in names]
        if _TIME_LIKE.fullmatch(first_row[1].strip()) and "time" not in normalised:
            log.info("%s: header has no time column but rows have one; inserting 'Time'", path)
            return [names[0], "Time", *names[1:]]
    if len(first_row) != len(names):
        raise DataValidationError(
            f"{path}: the header has {len(names)} names but the first data row has {len(first_row)} "
            f"fields. Fix: pass names=[...] with {len(first_row)} column names"
        )
    return names


def _positional_names(row: list[str], path: Path) -> list[str]:
    split_time = len(row) > 2 and bool(_TIME_LIKE.fullmatch(row[1].strip()))
    stamp = ["date", "time"] if split_time else ["datetime"]
    values = HEADERLESS.get(len(row) - len(stamp))
    if values is None:
        raise DataValidationError(
            f"{path}: no header and {len(row)} fields per row; cannot tell which is which. "
            "Fix: pass names=['datetime', 'open', 'high', 'low', 'close', 'volume', ...]"
        )
    log.info("%s: no header; reading columns as %s", path, stamp + list(values))
    return stamp + list(values)


def _roles(names: list[str], overrides: dict[str, Any], path: Path) -> dict[str, str]:
    """Role -> original column name, from overrides first, then the alias table."""
    normalised = {_normalise(n): n for n in reversed(names)}
    roles: dict[str, str] = {}
    for role, aliases in ALIASES.items():
        wanted = overrides.get("symbol_column" if role == "symbol" else role)
        if isinstance(wanted, str):
            if wanted not in names and _normalise(wanted) not in normalised:
                raise DataValidationError(
                    f"{path}: column {wanted!r} (given as {role}=) not found; columns are {names}"
                )
            roles[role] = wanted if wanted in names else normalised[_normalise(wanted)]
            continue
        hit = next((normalised[a] for a in aliases if a in normalised), None)
        if hit is not None and hit not in roles.values():
            roles[role] = hit
    stamp = overrides.get("datetime")
    if isinstance(stamp, (list, tuple)):
        roles.pop("datetime", None)
        roles["date"], roles["time"] = stamp
    return roles


def _stamp_columns(roles: dict[str, str], path: Path, names: list[str]) -> list[str]:
    if "datetime" in roles:
        return [roles["datetime"]]
    if "date" in roles:
        return [roles["date"], roles["time"]] if "time" in roles else [roles["date"]]
    if "time" in roles:
        return [roles["time"]]
    raise DataValidationError(
        f"{path}: no timestamp column found among {names}. "
        f"Fix: pass datetime='<column>' (or datetime=['<date column>', '<time column>'])"
    )


def _date_format(date_part: str, values: pd.Series, dayfirst: bool | None) -> str | None:
    for pattern, fmt in DATE_FORMATS:
        if re.fullmatch(pattern, date_part):
            if fmt is not None:
                return fmt
            if dayfirst is None:
                parts = values.str.extract(r"^(\d{1,2})/(\d{1,2})/").astype(float)
                dayfirst = bool((parts[0] > 12).any()) and not bool((parts[1] > 12).any())
            return "%d/%m/%Y" if dayfirst else "%m/%d/%Y"
    return None


def _guess_format(values: pd.Series, dayfirst: bool | None) -> str:
    """strptime format of the joined timestamp strings, from the first value (and all for d/m)."""
    first = str(values.iloc[0]).strip()
    if _TZ_SUFFIX.search(first) or "T" in first:
        return "ISO8601"
    date_part, _, time_part = first.partition(" ")
    date_fmt = _date_format(date_part, values, dayfirst)
    if date_fmt is None:
        return "ISO8601"
    if not time_part:
        return date_fmt
    time_fmt = next((fmt for pattern, fmt in TIME_FORMATS if re.fullmatch(pattern, time_part)), None)
    return "ISO8601" if time_fmt is None else f"{date_fmt} {time_fmt}"


def _epoch_unit(values: pd.Series) -> str | None:
    """Unit of an all-numeric timestamp column, or None when it is YYYYMMDD dates."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any():
        return None
    top = float(numbers.abs().max())
    if 1e7 <= top < 1e8:  # 8 digits: YYYYMMDD
        return None
    if values.str.fullmatch(r"(?:19|20)\d{10}(?:\d{2})?").all():  # YYYYMMDDHHMM[SS]
        return None
    return next(unit for limit, unit in EPOCH_UNITS if top < limit)


def _parse_stamps(raw: pd.DataFrame, columns: list[str], overrides: dict[str, Any],
                  path: Path, lines: np.ndarray) -> pd.DatetimeIndex:
    values = raw[columns[0]].astype("string").str.strip()
    if len(columns) == 2:
        values = values + " " + raw[columns[1]].astype("string").str.strip()
    unit = overrides.get("epoch") or (None if len(columns) == 2 else _epoch_unit(values))
    if unit:
        stamps = pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit=unit, utc=True)
        fmt = f"epoch {unit}"
        _check_epoch_range(stamps, unit, path)
    else:
        fmt = overrides.get("date_format") or _guess_format(values, overrides.get("dayfirst"))
        stamps = pd.to_datetime(values, format=fmt, errors="coerce")
    bad = np.flatnonzero(np.asarray(pd.isna(stamps)))
    if len(bad):
        i = int(bad[0])
        raise DataValidationError(
            f"{path}: timestamp {values.iloc[i]!r} at file line {int(lines[i])} does not parse as "
            f"{fmt!r} ({len(bad)} row(s) affected). Fix: pass date_format='...' (strptime), "
            "dayfirst=True/False or epoch='s'/'ms', or drop the bad rows"
        )
    return pd.DatetimeIndex(stamps)


def _check_epoch_range(stamps: pd.Series, unit: str, path: Path) -> None:
    """Numbers read as epoch must land in 1971-2200, or the unit (or the column) is wrong."""
    first, last = stamps.min(), stamps.max()
    if first < pd.Timestamp("1971-01-01", tz="UTC") or last > pd.Timestamp("2200-01-01", tz="UTC"):
        raise DataValidationError(
            f"{path}: numeric timestamps read as epoch {unit!r} span {first} .. {last}. "
            "Fix: pass epoch='s'/'ms'/'us'/'ns', or date_format='...' if they are not epoch times"
        )


def _to_utc_naive(index: pd.DatetimeIndex, tz: str | None, path: Path) -> pd.DatetimeIndex:
    if index.tz is not None:
        if tz is not None:
            log.warning("%s: timestamps carry their own UTC offset; tz=%r ignored", path, tz)
        return index.tz_convert("UTC").tz_localize(None)
    if tz is None:
        return index
    try:
        local = index.tz_localize(tz, ambiguous="infer", nonexistent="raise")
    except (ValueError, KeyError) as exc:  # ambiguous/nonexistent local time; unknown zone name
        raise DataValidationError(
            f"{path}: cannot read the naive timestamps as {tz!r}: {exc}. "
            "Fix: check tz= (the file may already be UTC), or localise the index yourself"
        ) from exc
    return local.tz_convert("UTC").tz_localize(None)


def _select_symbol(raw: pd.DataFrame, roles: dict[str, str], symbol: str | None,
                   path: Path) -> np.ndarray | None:
    """Row mask for ``symbol`` in a long-format file (None when the file has one symbol)."""
    column = roles.get("symbol")
    if column is None:
        return None
    symbols = raw[column].astype("string")
    found = pd.unique(symbols.dropna())
    listing = f"{len(found)} symbols: {sorted(map(str, found))[:30]}{' ...' if len(found) > 30 else ''}"
    if symbol is None:
        if len(found) == 1:
            return None
        raise DataValidationError(
            f"{path}: long-format file with {listing} in column {column!r}. Fix: pass symbol='...'"
        )
    mask = np.asarray(symbols == symbol, dtype=bool)
    if not mask.any():
        raise DataValidationError(f"{path}: symbol {symbol!r} not in column {column!r}; {listing}")
    return mask


def _wide_close(roles: dict[str, str], names: list[str], symbol: str | None, path: Path) -> None:
    """A wide file of closes (one column per symbol): ``symbol`` picks the close column."""
    if "close" in roles and (symbol is None or "symbol" in roles or symbol not in names):
        if symbol is not None and "symbol" not in roles:
            log.info("%s: no symbol column; symbol=%r only names the data", path, symbol)
        return
    candidates = [n for n in names if n not in roles.values()]
    if symbol is None or symbol not in names:
        hint = f"pass symbol= one of {candidates[:30]}" if candidates else "pass close='<column>'"
        raise DataValidationError(
            f"{path}: no close column{'' if symbol is None else f' and no column {symbol!r}'} "
            f"among {names}. Fix: {hint} (a wide file of closes), or close='<column>'"
        )
    roles["close"] = symbol
    for role in ("open", "high", "low", "volume", "openinterest", "adjclose"):
        roles.pop(role, None)


def _numbers(raw: pd.DataFrame, column: str, role: str, path: Path, lines: np.ndarray) -> np.ndarray:
    series = raw[column]
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(np.isnan(values) & np.asarray(series.notna()))
    if len(bad):
        i = int(bad[0])
        raise DataValidationError(
            f"{path}: column {column!r} ({role}) has a non-numeric value {series.iloc[i]!r} at file "
            f"line {int(lines[i])} ({len(bad)} row(s) affected). Fix: clean those rows or pass "
            f"{role}='<other column>'"
        )
    return values


def _adjust(out: dict[str, np.ndarray], adj: np.ndarray, path: Path) -> None:
    """Backtrader's YahooFinanceCSVData adjclose: prices / (close / adj close), volume * it."""
    if np.isnan(adj).any():
        raise DataValidationError(f"{path}: adjust=True but the adj close column has empty values. "
                                  "Fix: load without adjust")
    factor = out["close"] / adj
    for role in PRICE_ROLES:
        out[role] = out[role] / factor
    out["volume"] = out["volume"] * factor


def _frame(raw: pd.DataFrame, roles: dict[str, str], overrides: dict[str, Any], path: Path,
           lines: np.ndarray) -> pd.DataFrame:
    out = {role: _numbers(raw, roles[role], role, path, lines) for role in OUTPUT_ROLES if role in roles}
    if "volume" not in out:
        log.info("%s: no volume column; volume = 0", path)
        out["volume"] = np.zeros(len(raw))
    missing = [r for r in PRICE_ROLES if r not in out]
    if missing:
        log.info("%s: no %s column(s); filled from close", path, "/".join(missing))
        for role in missing:
            out[role] = out["close"]
    if overrides.get("adjust"):
        if "adjclose" not in roles:
            raise DataValidationError(f"{path}: adjust=True but no adj close column. Fix: load without adjust")
        _adjust(out, _numbers(raw, roles["adjclose"], "adjclose", path, lines), path)
    order = [r for r in OUTPUT_ROLES if r in out]
    return pd.DataFrame({r: out[r] for r in order})


def _read(path: Path, layout: _Layout, stamp_cols: list[str]) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep=layout.sep, header=None, names=layout.names, skiprows=layout.skip,
                           dtype={c: str for c in stamp_cols}, encoding="utf-8-sig", index_col=False,
                           skipinitialspace=True, skip_blank_lines=False,
                           compression="gzip" if _is_gzip(path) else None)
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
        raise DataValidationError(
            f"{path}: pandas cannot read it with separator {layout.sep!r} and columns {layout.names} "
            f"after {layout.skip} skipped line(s): {str(exc).strip()}. Fix: repair the row named, or "
            "pass sep=, names=, skiprows="
        ) from exc


def _order(df: pd.DataFrame, lines: np.ndarray, sort: bool, path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Reverse newest-first files (most steps go back in time); sort the rest only if asked."""
    steps = np.diff(df.index.asi8)
    if (steps < 0).sum() > (steps > 0).sum():
        log.info("%s: rows are newest first; reversing", path)
        df, lines, steps = df.iloc[::-1], lines[::-1], -steps[::-1]
    if sort and (steps < 0).any():
        log.info("%s: %d row(s) out of time order; sorting (sort=True)", path, int((steps < 0).sum()))
        order = np.argsort(df.index.asi8, kind="stable")
        df, lines = df.iloc[order], lines[order]
    return df, lines


def load_csv(path: str | Path, *, symbol: str | None = None, tz: str | None = None,
             **overrides: Any) -> pd.DataFrame:
    """Read an OHLCV CSV (optionally gzipped) of any common layout; return a validated frame.

    Args:
        path: the CSV file (``.gz`` or plain; a BOM, banner lines and blank lines are fine).
        symbol: one symbol of a long-format file (a ``symbol``/``ticker``/``pair`` column), or
            one column of a wide file of closes (then open = high = low = close, volume 0).
        tz: zone of naive timestamps (e.g. ``"America/New_York"``); tz-aware ones carry theirs.
        **overrides: fixes for odd files, see :data:`OVERRIDES` (``sep``, ``datetime``,
            ``date_format``, ``dayfirst``, ``epoch``, ``close="Last"``, ``adjust``, ``sort``, ...).

    Returns:
        Float columns ``open, high, low, close, volume`` (+ ``openinterest`` when the file has
        it; volume 0 when it has none) on an ascending, UTC-naive ``DatetimeIndex`` named
        ``datetime``. Newest-first files are reversed.

    Raises:
        DataValidationError: the file cannot be read as OHLCV or fails :func:`validate_ohlcv`;
            the message names the file, the row and line, how many rows, and the fix.
    """
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise TypeError(f"load_csv: unknown option(s) {unknown}; valid: {sorted(OVERRIDES)}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file. Fix: check the path (cwd is {Path.cwd()})")
    layout = _sniff(path, overrides)
    roles = _roles(layout.names, overrides, path)
    _wide_close(roles, layout.names, symbol, path)
    stamp_cols = _stamp_columns(roles, path, layout.names)
    raw = _read(path, layout, stamp_cols)
    lines = np.arange(len(raw)) + layout.skip + 1  # 1-based file line of each row
    blank = np.asarray(raw.isna().all(axis=1))
    if blank.any():
        log.info("%s: ignoring %d blank line(s)", path, int(blank.sum()))
        raw, lines = raw.loc[~blank].reset_index(drop=True), lines[~blank]
    mask = _select_symbol(raw, roles, symbol, path)
    if mask is not None:
        raw, lines = raw.loc[mask].reset_index(drop=True), lines[mask]
    index = _to_utc_naive(_parse_stamps(raw, stamp_cols, overrides, path, lines), tz, path)
    df = _frame(raw, roles, overrides, path, lines)
    df.index = index.rename("datetime")
    df, lines = _order(df, lines, bool(overrides.get("sort")), path)
    log.debug("%s: %d bars %s .. %s", path, len(df), df.index[0] if len(df) else "-", df.index[-1] if len(df) else "-")
    return validate_ohlcv(df, source=str(path), bounds=overrides.get("bounds", "warn"), line_numbers=lines)
