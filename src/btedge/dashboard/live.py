"""What the live page shows, computed from the journal and the tape (no Streamlit here)."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from btedge.dashboard.journal_view import JournalView, Waiting, read_journal
from btedge.dashboard.overlays import overlays
from btedge.dashboard.pnl import fill_bars, marked_pnl
from btedge.dashboard.tape import MODEL_LINES, read_bars, tape_path

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Bars read before the shown ones so the overlays' windows are full.
WARMUP = 100


@dataclass
class LiveState:
    """One refresh of the live page. ``waiting``: what the page waits for (then nothing else is set)."""

    waiting: str | None = None
    view: JournalView | None = None
    bars: dict[str, pd.DataFrame] = field(default_factory=dict)
    lines: dict[str, pd.DataFrame] = field(default_factory=dict)
    fills: pd.DataFrame = field(default_factory=pd.DataFrame)
    pnl: pd.DataFrame = field(default_factory=pd.DataFrame)
    status: dict[str, str] = field(default_factory=dict)
    latest: str = ""

    @property
    def symbols(self) -> list[str]:
        return sorted(self.bars)


def _stamp(epoch: float) -> str:
    return pd.Timestamp(epoch, unit="s", tz="UTC").strftime(TIME_FORMAT)


def status(view: JournalView, now: float) -> dict[str, str]:
    """Connection state and the heartbeat's age (the journal beats on each connection change), the
    age of the newest bar, risk state and halt reason, as display strings."""
    age = view.heartbeat_age(now)
    out = {
        "connection": str(view.heartbeat["state"]) if view.heartbeat else "no heartbeat yet",
        "heartbeat": f"{age:.1f} s ago" if age is not None else "none",
        "last bar": f"{now - float(view.bars['updated'].max()):.1f} s ago" if len(view.bars) else "none yet",
        "risk": view.risk_state(now),
        "kill switch": "HALTED: " + view.risk["halt"] if view.risk.get("halt") else "off",
    }
    return out


def latest_line(view: JournalView) -> str:
    """The journal's newest bar per symbol and its newest fill, on one line (the browser test and
    a glance read this)."""
    bars = " ".join(f"last bar {row.symbol} {_stamp(row.bar_time)}" for row in view.bars.itertuples())
    fills = view.fills()
    if len(fills):
        last = fills.iloc[-1]
        side = "BUY" if last["shares"] > 0 else "SELL"
        fill = f"fills {len(fills)} · last fill {last.get('symbol', '?')} {side} {abs(last['shares']):g} @ " \
               f"{last['price']:.6g} ({last['exec_id']})"
    else:
        fill = "fills 0"
    return f"{bars or 'no bars yet'} · {fill}"


def chart_data(tape: Path, last: int, n_symbols: int) -> tuple[pd.DataFrame, dict, dict]:
    """The tape's bars (the last ``last`` per symbol, plus :data:`WARMUP` before them for the
    overlays) and per symbol the shown bars and their overlays."""
    all_bars = read_bars(tape, last=(last + WARMUP) * max(1, n_symbols))
    bars, lines = {}, {}
    for symbol, group in all_bars.groupby("symbol"):
        group = group.drop(columns="symbol")
        lines[symbol] = overlays(group).iloc[-last:]
        bars[symbol] = group.iloc[-last:]
    return all_bars, bars, lines


def file_version(path: Path) -> tuple:
    """(mtime, size) of a SQLite file and its WAL: changes whenever a writer commits."""
    out = []
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            stat = p.stat()
            out.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def live_state(journal: str | None, last: int = 300, now: float | None = None,
               charts: Callable[[Path, int, int], tuple] = chart_data) -> LiveState:
    """Read the journal and its tape and compute the page: bars and overlays per symbol, fills
    on their bars, marked P&L and drawdown, status. ``charts``: :func:`chart_data` or a cached
    wrapper of it (the dashboard keys it by :func:`file_version` of the tape)."""
    now = time.time() if now is None else now
    view = read_journal(journal or None)
    if isinstance(view, Waiting):
        return LiveState(waiting=view.reason)
    all_bars, bars, lines = charts(tape_path(view.path), last, len(view.bars))
    state = LiveState(view=view, status=status(view, now), latest=latest_line(view), bars=bars, lines=lines)
    fills = view.fills()
    state.fills = fill_bars(fills, all_bars) if len(fills) else fills.assign(bar_time=[])
    state.pnl = marked_pnl(state.fills, all_bars)
    return state


def journal_version(journal: str | None) -> tuple:
    """:func:`file_version` of the journal and of its tape: changes whenever either writer commits."""
    if not journal:
        return ()
    path = Path(journal)
    return file_version(path) + file_version(tape_path(path))


def restamp(state: LiveState, now: float | None = None) -> LiveState:
    """``state`` with its status (heartbeat and bar ages, risk state) as of ``now``: a refresh
    whose files did not change reuses the rest."""
    if state.view is None:
        return state
    return dataclasses.replace(state, status=status(state.view, time.time() if now is None else now))


def model_columns(bars: pd.DataFrame) -> list[str]:
    """The model lines the tape holds values for (``p_long``, ``p_short``, ``confidence``, ``regime``)."""
    return [c for c in MODEL_LINES if c in bars and bars[c].notna().any()]


def default_charts(state: LiveState, most: int = 2) -> list[str]:
    """The symbols charted unless the user picks others: those held, then the rest, at most
    ``most`` (each chart costs a refresh time; the status line and tables cover every symbol)."""
    held = set(state.view.positions.loc[state.view.positions["size"] != 0, "symbol"]) if state.view else set()
    return sorted(state.symbols, key=lambda s: (s not in held, s))[:most]
