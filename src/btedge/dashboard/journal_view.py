"""Read the live order journal (see ``docs/live_journal.md``) read-only, for the dashboard.

:func:`read_journal` opens the SQLite file with a ``mode=ro`` URI on every call (a reader never
writes and never holds it), and returns a :class:`JournalView` of plain frames, or a
:class:`Waiting` saying what it waits for: the file to appear, the writer to create its tables, or
a lock to clear. Nothing here raises for a missing, locked or growing database.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

#: Order states that are still working (``btedge.live.orders``).
WORKING = ("Submitted", "Accepted", "Partial")
#: Seconds after a Rejected event during which the broker only reduces (``reject_cooldown`` default).
REJECT_COOLDOWN = 60.0


@dataclass(frozen=True)
class Waiting:
    """The journal cannot be read yet; ``reason`` says what the dashboard is waiting for."""

    reason: str


@dataclass
class JournalView:
    """One consistent read of the journal (a single read transaction)."""

    path: Path
    meta: dict[str, str]
    orders: pd.DataFrame
    executions: pd.DataFrame
    positions: pd.DataFrame
    risk: dict[str, str]
    bars: pd.DataFrame
    heartbeat: dict[str, float | str] | None
    rejects: pd.DataFrame = field(default_factory=pd.DataFrame)
    read_at: float = 0.0
    _fills: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def working_orders(self) -> pd.DataFrame:
        return self.orders[self.orders["state"].isin(WORKING)] if len(self.orders) else self.orders

    def heartbeat_age(self, now: float | None = None) -> float | None:
        """Seconds since the live process last beat, or None before its first beat."""
        if not self.heartbeat:
            return None
        return (time.time() if now is None else now) - float(self.heartbeat["time"])

    def risk_state(self, now: float | None = None, cooldown: float = REJECT_COOLDOWN) -> str:
        """``halted`` while a halt is stored, ``reducing`` within ``cooldown`` seconds of a
        rejected order, else ``active`` (the broker's states; see ``docs/live_journal.md``)."""
        if self.risk.get("halt"):
            return "halted"
        now = time.time() if now is None else now
        if len(self.rejects) and float(self.rejects["time"].max()) > now - cooldown:
            return "reducing"
        return "active"

    def fills(self) -> pd.DataFrame:
        """Executions with their order's symbol and side, oldest first; ``time`` as UTC timestamps
        (computed once per view)."""
        if self._fills is None:
            self._fills = self._join_fills()
        return self._fills

    def _join_fills(self) -> pd.DataFrame:
        if not len(self.executions):
            return self.executions.assign(symbol=[], side=[], when=[])
        sides = self.orders.set_index("client_ref")[["symbol", "side"]] if len(self.orders) else None
        out = self.executions.join(sides, on="client_ref") if sides is not None else self.executions
        out = out.assign(when=pd.to_datetime(out["time"], unit="s", utc=True))
        return out.sort_values("time").reset_index(drop=True)


_QUERIES = {
    "orders": "SELECT * FROM orders ORDER BY created",
    "executions": "SELECT * FROM executions ORDER BY time",
    "positions": "SELECT * FROM positions",
    "bars": "SELECT * FROM bars",
    "rejects": "SELECT client_ref, time FROM order_events WHERE state = 'Rejected'",
}


def connect_ro(path: str | Path, timeout: float = 0.5) -> sqlite3.Connection:
    """A read-only connection (``file:...?mode=ro``); raises ``sqlite3.OperationalError`` when absent."""
    return sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=timeout)


def read_journal(path: str | Path | None) -> JournalView | Waiting:
    """Everything the live page shows, from one read transaction, or :class:`Waiting`."""
    if path is None:
        return Waiting("no journal given: start with --journal PATH (btedge-live prints its journal path at exit; "
                       "default folder ~/.local/state/btedge)")
    path = Path(path)
    if not path.exists():
        return Waiting(f"waiting for the journal {path} to appear (start btedge-live, or check --journal)")
    try:
        db = connect_ro(path)
    except sqlite3.Error as exc:
        return Waiting(f"waiting for the journal {path}: cannot open it read-only ({exc})")
    try:
        db.execute("BEGIN")
        frames = {name: pd.read_sql_query(sql, db) for name, sql in _QUERIES.items()}
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        risk = dict(db.execute("SELECT key, value FROM risk").fetchall())
        beat = db.execute("SELECT time, state, pid FROM heartbeat WHERE id = 1").fetchone()
        db.execute("COMMIT")
    except (sqlite3.Error, pd.errors.DatabaseError) as exc:
        return Waiting(_why(path, exc))
    finally:
        db.close()
    heartbeat = {"time": beat[0], "state": beat[1], "pid": beat[2]} if beat else None
    return JournalView(path=path, meta=meta, risk=risk, heartbeat=heartbeat, read_at=time.time(), **frames)


def _why(path: Path, exc: BaseException) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"waiting for the journal {path}: it is locked by a writer; retrying"
    if "no such table" in text:
        return f"waiting for the journal {path}: the live process has not created its tables yet"
    return f"waiting for the journal {path}: it cannot be read yet ({text}); retrying"
