"""Scripted bars: loading (CSV, DataFrame, list), the history/future cursor, bar-size arithmetic.

A :class:`BarScript` is the bar tape of one instrument. Bars before ``cursor`` have "happened"
(they are what ``reqHistoricalData`` returns); :meth:`BarScript.advance` moves the cursor,
which is how the gateway pushes live bars. Times are UTC epoch seconds of the bar *start*.
Standard library only: a DataFrame is read through its own ``reset_index``/``to_dict`` methods.
"""
from __future__ import annotations

import csv
import math
import random
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_TIME_COLUMNS = ("datetime", "date", "time", "timestamp", "dt", "index")
_PRICE_COLUMNS = ("open", "high", "low", "close")
_UNIT_SECONDS = {"sec": 1, "secs": 1, "min": 60, "mins": 60, "hour": 3600, "hours": 3600,
                 "day": 86400, "days": 86400, "week": 604800, "weeks": 604800, "month": 2592000}
_DURATION_SECONDS = {"S": 1, "D": 86400, "W": 604800, "M": 2592000, "Y": 31536000}


@dataclass(frozen=True)
class Bar:
    """One OHLCV bar; ``time`` is the UTC epoch second the bar starts."""

    time: int
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    wap: float | None = None
    count: int = 0

    @property
    def average(self) -> float:
        """The bar's WAP (the close when the script gives none)."""
        return self.close if self.wap is None else self.wap


class BarDataError(ValueError):
    """Scripted bars that cannot be served (says which row and how to fix it)."""


_IB_TIME = re.compile(r"(\d{8})(?:[ -]+(\d\d:\d\d:\d\d))?(?: +(\S+))?")


def _ib_time_to_epoch(day: str, clock: str | None, zone: str | None, where: str) -> int:
    """``YYYYMMDD[ HH:MM:SS][ zone]`` (or ``YYYYMMDD-HH:MM:SS``) to epoch; no zone / UTC / GMT = UTC."""
    naive = datetime.strptime(day + (clock or "00:00:00"), "%Y%m%d%H:%M:%S")
    if zone in (None, "UTC", "GMT", "Z"):
        tz: Any = timezone.utc
    else:
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BarDataError(f"{where}: unknown time zone {zone!r}; use UTC or an IANA name "
                               "such as 'US/Eastern'") from None
    return int(naive.replace(tzinfo=tz).timestamp())


def parse_time(value: Any, where: str = "") -> int:
    """A timestamp (epoch number, ISO/IB string, datetime, pandas Timestamp) to UTC epoch seconds.

    IB forms: ``YYYYMMDD``, ``YYYYMMDD HH:MM:SS[ zone]``, ``YYYYMMDD-HH:MM:SS``. Naive times are UTC.
    """
    if hasattr(value, "timestamp") and hasattr(value, "tzinfo"):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(dt.timestamp())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"\d{9,11}(\.\d*)?", text):
        return int(float(text))
    ib_form = _IB_TIME.fullmatch(text)
    if ib_form:
        return _ib_time_to_epoch(*ib_form.groups(), where=where)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BarDataError(
            f"{where}: cannot read time {text!r}; use ISO 8601 ('2025-01-02 14:30:00+00:00'), "
            "'YYYYMMDD HH:MM:SS' (UTC) or epoch seconds") from None
    return parse_time(dt)


def _row_to_bar(row: Mapping[str, Any], where: str) -> Bar:
    lower = {str(k).strip().lstrip("\ufeff").lower(): v for k, v in row.items()}
    time_key = next((k for k in _TIME_COLUMNS if k in lower), None)
    if time_key is None:
        raise BarDataError(f"{where}: no time column; name one of {', '.join(_TIME_COLUMNS)}")
    values: dict[str, float] = {}
    for name in (*_PRICE_COLUMNS, "volume"):
        raw = lower.get(name, 0.0 if name == "volume" else None)
        if raw is None:
            raise BarDataError(f"{where}: missing column {name!r}; bars need open, high, low, close")
        try:
            values[name] = float(raw) if raw != "" else (0.0 if name == "volume" else math.nan)
        except (TypeError, ValueError):
            raise BarDataError(f"{where}, column {name!r}: {raw!r} is not a number") from None
        if math.isnan(values[name]) and name == "volume":
            values[name] = 0.0
        elif math.isnan(values[name]):
            raise BarDataError(f"{where}, column {name!r}: empty or NaN; drop or fill the row")
    if values["high"] < values["low"]:
        raise BarDataError(f"{where}: high {values['high']} < low {values['low']}; fix the row")
    wap = lower.get("wap", lower.get("average"))
    return Bar(parse_time(lower[time_key], where), values["open"], values["high"], values["low"],
               values["close"], values["volume"], float(wap) if wap not in (None, "") else None,
               int(float(lower.get("count", lower.get("barcount", 0)) or 0)))


def _check_order(bars: Sequence[Bar], source: str) -> None:
    if not bars:
        raise BarDataError(f"{source}: no bars; give at least one row")
    for i in range(1, len(bars)):
        if bars[i].time <= bars[i - 1].time:
            raise BarDataError(
                f"{source}, row {i + 1}: time {bars[i].time} is not after the previous row's "
                f"{bars[i - 1].time}; sort the bars by time and drop duplicates")


def load_bars(source: Any) -> list[Bar]:
    """Bars from a CSV path, a DataFrame (DatetimeIndex or a time column) or an iterable.

    The iterable may hold :class:`Bar` objects, mappings with the CSV column names or
    ``(time, open, high, low, close[, volume])`` tuples.
    """
    if isinstance(source, (str, Path)):
        return _load_csv(Path(source))
    if hasattr(source, "reset_index") and hasattr(source, "to_dict"):
        frame = source.reset_index()
        bars = [_row_to_bar(r, f"DataFrame row {i + 1}") for i, r in enumerate(frame.to_dict("records"))]
        _check_order(bars, "DataFrame")
        return bars
    bars = [_item_to_bar(item, f"bar {i + 1}") for i, item in enumerate(source)]
    _check_order(bars, "bar list")
    return bars


def _item_to_bar(item: Any, where: str) -> Bar:
    if isinstance(item, Bar):
        return item
    if isinstance(item, Mapping):
        return _row_to_bar(item, where)
    if isinstance(item, (tuple, list)) and 5 <= len(item) <= 6:
        keys = ("time", *_PRICE_COLUMNS, "volume")
        return _row_to_bar(dict(zip(keys, item)), where)
    raise BarDataError(f"{where}: {item!r} is not a Bar, a mapping or a (time, o, h, l, c[, v]) tuple")


def _load_csv(path: Path) -> list[Bar]:
    if not path.exists():
        raise BarDataError(f"{path}: file not found")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        bars = [_row_to_bar(row, f"{path}, line {i + 2}") for i, row in enumerate(reader)]
    _check_order(bars, str(path))
    return bars


def bar_size_seconds(setting: str) -> int:
    """IB bar-size setting (``'5 secs'``, ``'1 min'``, ``'1 hour'``, ``'1 day'``) to seconds."""
    match = re.fullmatch(r"\s*(\d+)\s+([A-Za-z]+)\s*", setting or "")
    if not match or match.group(2).lower() not in _UNIT_SECONDS:
        raise ValueError(f"bar size {setting!r}: expected e.g. '5 secs', '1 min', '15 mins', '1 hour', '1 day'")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


def duration_seconds(text: str) -> int:
    """IB duration string (``'3600 S'``, ``'2 D'``, ``'1 W'``, ``'1 M'``, ``'1 Y'``) to seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([SDWMY])\s*", (text or "").upper())
    if not match:
        raise ValueError(f"duration {text!r}: expected '<n> S|D|W|M|Y', e.g. '1 D'")
    return int(match.group(1)) * _DURATION_SECONDS[match.group(2)]


def aggregate(bars: Iterable[Bar], seconds: int) -> list[Bar]:
    """Bars merged into buckets of ``seconds`` aligned to the epoch (bucket time = its start)."""
    out: list[Bar] = []
    for bar in bars:
        start = bar.time - bar.time % seconds
        if out and out[-1].time == start:
            last = out[-1]
            volume = last.volume + bar.volume
            wap = ((last.average * last.volume + bar.average * bar.volume) / volume) if volume else bar.close
            out[-1] = replace(last, high=max(last.high, bar.high), low=min(last.low, bar.low),
                              close=bar.close, volume=volume, wap=wap, count=last.count + bar.count)
        else:
            out.append(replace(bar, time=start))
    return out


def random_walk_bars(n: int = 60, start: int = 1_735_828_200, seconds: int = 60, price: float = 100.0,
                     seed: int = 7) -> list[Bar]:
    """A deterministic random walk of ``n`` bars ``seconds`` apart from ``start`` (UTC epoch), for dry runs."""
    rng = random.Random(seed)
    bars = []
    for i in range(n):
        open_ = round(price, 2)
        close = round(open_ + rng.uniform(-0.5, 0.5), 2)
        high = round(max(open_, close) + rng.uniform(0.0, 0.3), 2)
        low = round(min(open_, close) - rng.uniform(0.0, 0.3), 2)
        bars.append(Bar(start + i * seconds, open_, high, low, close, float(rng.randint(100, 5000))))
        price = close
    return bars


class BarScript:
    """The bar tape of one instrument: bars before ``cursor`` are history, the rest the future."""

    def __init__(self, bars: Sequence[Bar], history: int | None = None, bar_seconds: int | None = None) -> None:
        self.bars = list(bars)
        _check_order(self.bars, "bar script")
        self.cursor = len(self.bars) if history is None else history
        if not 0 <= self.cursor <= len(self.bars):
            raise ValueError(f"history={history}: must be between 0 and the {len(self.bars)} scripted bars")
        gaps = [b.time - a.time for a, b in zip(self.bars, self.bars[1:])]
        self.bar_seconds = bar_seconds or (min(gaps) if gaps else 60)

    @property
    def remaining(self) -> int:
        """Scripted bars not pushed yet."""
        return len(self.bars) - self.cursor

    @property
    def last(self) -> Bar | None:
        """The newest bar that has happened."""
        return self.bars[self.cursor - 1] if self.cursor else None

    def now(self) -> int | None:
        """The script's clock: the end of the newest bar that has happened."""
        return self.last.time + self.bar_seconds if self.last else None

    def history(self, end: int | None = None, duration: int | None = None) -> list[Bar]:
        """Bars that have happened, starting before ``end`` and at or after ``end - duration``."""
        bars = self.bars[:self.cursor]
        if end is not None:
            bars = [b for b in bars if b.time < end]
        if duration is not None and bars:
            start = (end if end is not None else bars[-1].time + self.bar_seconds) - duration
            bars = [b for b in bars if b.time >= start]
        return bars

    def advance(self, count: int = 1) -> list[Bar]:
        """Move up to ``count`` bars from the future into history; return them."""
        if count < 0:
            raise ValueError(f"count={count}: must be >= 0")
        pushed = self.bars[self.cursor:self.cursor + count]
        self.cursor += len(pushed)
        return pushed

    def append(self, bars: Iterable[Bar]) -> None:
        """Add bars to the end of the future (times must keep increasing)."""
        self.bars.extend(bars)
        _check_order(self.bars, "bar script")
