"""The live order journal: one SQLite file (WAL mode) per account and run name.

The journal is the single owner of this strategy's orders, fills and position. Every order the
broker creates is written before it is sent (its client order id travels to IB as ``orderRef``),
every state change is appended with its time, and every execution is booked here exactly once per
execId base: a correction (same base, new suffix) replaces the booking, never adds to it. Only
executions of this journal's own orders count (``orderRef`` + clientId + account, never the
orderId alone). The risk state (daily-loss baseline per trading day, halt, kill switch), the last
bar seen per symbol and a heartbeat live here too, so a restart continues where the last process
stopped. Other processes may read the file while it is live (WAL); the schema is documented in
``docs/live_journal.md``.

Durability: ``synchronous=NORMAL`` in WAL mode, so a committed write survives a crash of the
process (not of the operating system, whose last writes may be lost). An order is committed
before it is sent. A commit writes the WAL and does not sync the disk; a checkpoint (copying the
WAL into the database file) syncs it twice, which takes milliseconds to tens of milliseconds on
a busy disk, so it is not left to SQLite's automatic checkpoint on whichever commit crosses its
threshold (that could be an order's): :meth:`Journal.maintain` runs it when the store is idle,
and SQLite's own only comes as a backstop (:data:`BACKSTOP_PAGES`). Each event is one transaction (a fill and the state change it causes commit
together: :meth:`Journal.batch`), and the orders and positions are also held in memory (the
process is the journal's only writer), so the bar-to-order path reads nothing from the file.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from btedge.live.orders import WORKING

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_ALIVE_SECONDS = 120.0  # a heartbeat younger than this, from a running pid: that process is live
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_EPS = 1e-9
#: SQLite's automatic checkpoint on a commit, only reached when :meth:`Journal.maintain` is not called
BACKSTOP_PAGES = 10_000
#: rows written since the last checkpoint that make :meth:`Journal.maintain` run one (~1000 WAL pages)
CHECKPOINT_CHANGES = 400

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    client_ref TEXT PRIMARY KEY, order_id INTEGER, perm_id INTEGER, client_id INTEGER NOT NULL,
    account TEXT NOT NULL, con_id INTEGER NOT NULL, symbol TEXT NOT NULL, contract TEXT NOT NULL,
    side TEXT NOT NULL, size REAL NOT NULL, order_type TEXT NOT NULL, limit_price REAL,
    stop_price REAL, parent_ref TEXT, state TEXT NOT NULL, filled REAL NOT NULL DEFAULT 0,
    process TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS orders_state ON orders (state);
CREATE INDEX IF NOT EXISTS orders_order_id ON orders (order_id);
CREATE TABLE IF NOT EXISTS order_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, client_ref TEXT NOT NULL, time REAL NOT NULL,
    state TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS order_events_ref ON order_events (client_ref);
CREATE TABLE IF NOT EXISTS executions (
    exec_base TEXT PRIMARY KEY, exec_id TEXT NOT NULL, client_ref TEXT NOT NULL,
    order_id INTEGER, con_id INTEGER NOT NULL, shares REAL NOT NULL, price REAL NOT NULL,
    time REAL NOT NULL, commission REAL, booked REAL NOT NULL);
CREATE INDEX IF NOT EXISTS executions_exec_id ON executions (exec_id);
CREATE INDEX IF NOT EXISTS executions_ref ON executions (client_ref);
CREATE INDEX IF NOT EXISTS executions_time ON executions (time);
CREATE TABLE IF NOT EXISTS commissions (
    exec_id TEXT PRIMARY KEY, commission REAL NOT NULL, received REAL NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    con_id INTEGER PRIMARY KEY, symbol TEXT NOT NULL, size REAL NOT NULL, avg_price REAL NOT NULL,
    updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS risk (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS daily_baseline (day TEXT PRIMARY KEY, value REAL NOT NULL, set_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS bars (symbol TEXT PRIMARY KEY, bar_time REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1), time REAL NOT NULL, state TEXT NOT NULL, pid INTEGER NOT NULL);
"""

#: order states that may still fill
WORKING_STATES = tuple(sorted(WORKING))


def default_state_dir() -> Path:
    """The per-user state directory: ``platformdirs.user_state_dir('btedge')`` (on Linux
    ``$XDG_STATE_HOME/btedge``, by default ``~/.local/state/btedge``)."""
    import platformdirs

    return Path(platformdirs.user_state_dir("btedge"))


#: execId prefix of a fill booked from IB's completed order because IB no longer reports its executions.
UNREPORTED_EXEC_PREFIX = "btedge-completed."


def exec_base(exec_id: str) -> tuple[str, str]:
    """Split an IB execId into its base and correction suffix:
    ``'0000e0d5.6576e5a1.01.02'`` -> ``('0000e0d5.6576e5a1.01', '02')``."""
    base, dot, suffix = exec_id.rpartition(".")
    return (base, suffix) if dot and base else (exec_id, "")


@dataclass(frozen=True)
class OrderRecord:
    """An order as the journal keeps it (one row of ``orders``)."""

    client_ref: str
    order_id: int | None
    perm_id: int | None
    client_id: int
    account: str
    con_id: int
    symbol: str
    contract: str
    side: str
    size: float
    order_type: str
    limit_price: float | None
    stop_price: float | None
    parent_ref: str | None
    state: str
    filled: float
    process: str

    @property
    def signed_size(self) -> float:
        return self.size if self.side == "BUY" else -self.size

    @property
    def remaining(self) -> float:
        """Signed size not filled yet."""
        return (self.size - self.filled) * (1 if self.side == "BUY" else -1)


@dataclass(frozen=True)
class ExecutionReport:
    """One execution as IB reports it (``execDetails``), in the journal's terms."""

    exec_id: str
    order_ref: str
    client_id: int
    account: str
    order_id: int
    con_id: int
    shares: float  # signed: + bought, - sold
    price: float
    time: float  # epoch seconds


@dataclass(frozen=True)
class Booking:
    """What :meth:`Journal.book_execution` did.

    ``kind``: ``'new'`` (a first fill), ``'correction'`` (replaced an earlier booking of the same
    execId base), ``'duplicate'`` (already booked: nothing changed), ``'foreign'`` (not this
    journal's order: ignored). ``delta``: signed shares added to the position; ``commission``: the
    commission known so far (None until its report arrives).
    """

    kind: str
    client_ref: str
    delta: float
    price: float
    commission: float | None
    position: float
    avg_price: float


class Journal:
    """SQLite journal of one account and run name; open it with :meth:`Journal.open`."""

    def __init__(self, path: Path, account: str, run_name: str) -> None:
        self.path = path
        self.account = account
        self.run_name = run_name
        self.process = f"{os.getpid()}-{int(time.time())}"
        self._ref_seq: int | None = None
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        self._checkpointed = 0  # the connection's total_changes at the last checkpoint
        self._db.executescript(_SCHEMA)
        self._check_meta()
        self._db.execute("DELETE FROM commissions WHERE received < ?", (time.time() - 7 * 86_400,))
        self._orders: dict[str, OrderRecord] = {}
        self._working: dict[str, OrderRecord] = {}  # the orders that may still fill, oldest first
        self._positions: dict[int, tuple[str, float, float]] = {}
        self._load_cache()

    def _load_cache(self) -> None:
        """Read the orders and positions into memory (at open, and after a rolled-back write)."""
        self._orders, self._working = {}, {}
        for row in self._db.execute("SELECT * FROM orders ORDER BY created, rowid"):
            self._put(_record(row))
        self._positions = {r[0]: (r[1], r[2], r[3]) for r in self._db.execute(
            "SELECT con_id, symbol, size, avg_price FROM positions")}
        self._early = {r[0] for r in self._db.execute("SELECT exec_id FROM commissions")}
        self._estimated = {r[0] for r in self._db.execute(
            "SELECT client_ref FROM executions WHERE exec_id LIKE ?", (f"{UNREPORTED_EXEC_PREFIX}%",))}

    @classmethod
    def open(cls, state_dir: str | Path | None, account: str, run_name: str) -> Journal:
        """Open (creating it if needed) ``<state_dir>/<run_name>.<account>.sqlite``.

        ``state_dir`` None: :func:`default_state_dir`.

        Raises:
            ValueError: ``run_name`` or ``account`` is empty or has characters other than letters,
                digits, ``_``, ``.``, ``-``.
        """
        for what, value in (("run_name", run_name), ("account", account)):
            if not _NAME.match(str(value or "")):
                raise ValueError(f"{what}={value!r}: use 1-64 letters, digits, '_', '.', '-' "
                                 "(it names the journal file)")
        directory = Path(state_dir) if state_dir is not None else default_state_dir()
        directory.mkdir(parents=True, exist_ok=True)
        journal = cls(directory / f"{run_name}.{account}.sqlite", account, run_name)
        journal._refuse_second_process()
        log.info("journal %s opened", journal.path)
        return journal

    def _refuse_second_process(self) -> None:
        """Two live processes on one journal would take over each other's orders: refuse."""
        beat = self._db.execute("SELECT time, pid FROM heartbeat WHERE id = 1").fetchone()
        if beat is None or beat[1] == os.getpid() or time.time() - beat[0] > _ALIVE_SECONDS:
            return
        try:
            os.kill(beat[1], 0)
        except OSError:
            return  # that process is gone
        self.close()
        raise ValueError(f"run name {self.run_name!r} on this account is live in process {beat[1]} (heartbeat "
                         f"{time.time() - beat[0]:.0f} s ago): give this one another --run-name, or stop that one")

    def _check_meta(self) -> None:
        rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if not rows:
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("schema_version", str(SCHEMA_VERSION)), ("account", self.account),
                ("run_name", self.run_name), ("created", str(time.time()))])
            return
        if rows.get("schema_version") != str(SCHEMA_VERSION):
            raise ValueError(f"journal {self.path} has schema version {rows.get('schema_version')}, this "
                             f"btedge writes {SCHEMA_VERSION}: use another --state-dir or --run-name")

    def close(self) -> None:
        """Close the file (WAL contents are checkpointed by SQLite)."""
        if self._db is not None:
            self._db.close()
            self._db = None  # type: ignore[assignment]

    def maintain(self) -> bool:
        """Checkpoint the WAL into the database file once :data:`CHECKPOINT_CHANGES` rows were
        written since the last checkpoint (PASSIVE: readers are not waited for); True if it ran.
        Call it when no bar is waiting (the store does, from its idle passes)."""
        changes = self._db.total_changes
        if changes - self._checkpointed < CHECKPOINT_CHANGES or self._db.in_transaction:
            return False
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self._checkpointed = changes
        return True

    # -- bars and heartbeat ----------------------------------------------------------------------
    def record_bar(self, symbol: str, bar_time: dt.datetime) -> None:
        """Remember the newest bar delivered for ``symbol`` (naive datetimes are UTC)."""
        self._db.execute("INSERT INTO bars VALUES (?, ?, ?) ON CONFLICT(symbol) DO UPDATE SET "
                         "bar_time = max(bar_time, excluded.bar_time), updated = excluded.updated",
                         (symbol, _epoch(bar_time), time.time()))

    def last_bar(self, symbol: str) -> dt.datetime | None:
        """The newest bar recorded for ``symbol`` (UTC, tz-aware), None if none."""
        row = self._db.execute("SELECT bar_time FROM bars WHERE symbol = ?", (symbol,)).fetchone()
        return dt.datetime.fromtimestamp(row[0], dt.timezone.utc) if row else None

    def heartbeat(self, state: str) -> None:
        """Record that the process is alive and what it is doing (e.g. ``'LIVE'``, ``'RECONNECTING'``)."""
        self._db.execute("INSERT INTO heartbeat VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                         "time = excluded.time, state = excluded.state, pid = excluded.pid",
                         (time.time(), state, os.getpid()))

    def last_heartbeat(self) -> tuple[float, str] | None:
        """(epoch, state) of the last heartbeat."""
        row = self._db.execute("SELECT time, state FROM heartbeat WHERE id = 1").fetchone()
        return (row[0], row[1]) if row else None

    # -- orders ------------------------------------------------------------------------------------
    def next_client_ref(self, prefix: str) -> str:
        """A client order id never used in this journal: ``'<prefix>:<run_name>:<n>'``."""
        if self._ref_seq is None:
            self._ref_seq = len(self._orders)
        while True:
            self._ref_seq += 1
            ref = f"{prefix}:{self.run_name}:{self._ref_seq}"
            if ref not in self._orders:
                return ref

    def add_order(self, record: OrderRecord) -> None:
        """Journal a new order (committed before it is sent)."""
        now = time.time()
        if not record.process:
            record = dataclasses.replace(record, process=self.process)
        with self._tx():
            self._db.execute(
                "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (record.client_ref, record.order_id, record.perm_id, record.client_id, record.account,
                 record.con_id, record.symbol, record.contract, record.side, record.size,
                 record.order_type, record.limit_price, record.stop_price, record.parent_ref,
                 record.state, record.filled, record.process, now, now))
            self._event(record.client_ref, record.state, "created", now)
        self._put(record)

    def set_state(self, client_ref: str, state: str, detail: str = "", *, order_id: int | None = None,
                  perm_id: int | None = None) -> None:
        """Record a state change (the caller checked it is legal: :mod:`btedge.live.orders`)."""
        now = time.time()
        with self._tx():
            self._db.execute("UPDATE orders SET state = ?, updated = ?, order_id = coalesce(?, order_id), "
                             "perm_id = coalesce(?, perm_id) WHERE client_ref = ?",
                             (state, now, order_id, perm_id, client_ref))
            self._event(client_ref, state, detail, now)
        self._cache_order(client_ref, state=state, order_id=order_id, perm_id=perm_id)

    def set_ids(self, client_ref: str, *, order_id: int | None = None, perm_id: int | None = None) -> None:
        """Attach IB's orderId / permId once known."""
        self._db.execute("UPDATE orders SET order_id = coalesce(?, order_id), perm_id = coalesce(?, perm_id) "
                         "WHERE client_ref = ?", (order_id, perm_id, client_ref))
        self._cache_order(client_ref, order_id=order_id, perm_id=perm_id)

    def _cache_order(self, client_ref: str, **changes: Any) -> None:
        record = self._orders.get(client_ref)
        if record is not None:
            self._put(dataclasses.replace(record, **{key: value for key, value in changes.items() if value is not None}))

    def _put(self, record: OrderRecord) -> None:
        self._orders[record.client_ref] = record
        if record.state in WORKING:
            self._working[record.client_ref] = record
        else:
            self._working.pop(record.client_ref, None)

    def _event(self, client_ref: str, state: str, detail: str, now: float) -> None:
        self._db.execute("INSERT INTO order_events (client_ref, time, state, detail) VALUES (?,?,?,?)",
                         (client_ref, now, state, detail))

    def order(self, client_ref: str) -> OrderRecord | None:
        """The journaled order with this client order id (``orderRef``)."""
        return self._orders.get(client_ref)

    def orders(self, states: tuple[str, ...] | None = None) -> list[OrderRecord]:
        """Journaled orders (in ``states``), oldest first."""
        return [r for r in self._orders.values() if states is None or r.state in states]

    def working_orders(self) -> list[OrderRecord]:
        """Orders that may still fill (Submitted, Accepted, Partial), oldest first."""
        return list(self._working.values())

    def order_events(self, client_ref: str) -> list[tuple[float, str, str]]:
        """(time, state, detail) of every state change of one order."""
        return [tuple(r) for r in self._db.execute(
            "SELECT time, state, detail FROM order_events WHERE client_ref = ? ORDER BY id", (client_ref,))]

    def max_order_id(self) -> int:
        """The highest IB orderId any process of this journal used (0 if none)."""
        return max((r.order_id or 0 for r in self._orders.values()), default=0)

    # -- fills ---------------------------------------------------------------------------------------
    def owns(self, order_ref: str, client_id: int, account: str) -> OrderRecord | None:
        """The journaled order matching an execution's orderRef, clientId and account (else None)."""
        record = self.order(order_ref) if order_ref else None
        if record is None or record.client_id != client_id or record.account != account:
            return None
        return record

    def book_execution(self, report: ExecutionReport) -> Booking:
        """Book one execution exactly once per execId base; a correction replaces the first booking.

        The position of the contract moves by the difference, the order's filled size is
        recomputed from its executions, and a commission that arrived earlier is attached.
        """
        record = self.owns(report.order_ref, report.client_id, report.account)
        if record is None:
            return Booking("foreign", "", 0.0, report.price, None, *self.position(report.con_id))
        base, _ = exec_base(report.exec_id)
        with self._tx():
            old = self._db.execute("SELECT exec_id, shares, price, commission FROM executions WHERE exec_base = ?",
                                   (base,)).fetchone()
            if old is not None and (old["exec_id"] == report.exec_id or not _newer(report.exec_id, old["exec_id"])):
                return Booking("duplicate", record.client_ref, 0.0, old["price"], old["commission"],
                               *self.position(report.con_id))
            pending = self._db.execute("DELETE FROM commissions WHERE exec_id = ? RETURNING commission",
                                       (report.exec_id,)).fetchone() if report.exec_id in self._early else None
            self._early.discard(report.exec_id)
            commission = pending[0] if pending else None
            estimated = old is None and self._absorb_estimate(record.client_ref, report.exec_id, report.shares)
            self._db.execute(
                "INSERT INTO executions VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(exec_base) DO UPDATE SET "
                "exec_id = excluded.exec_id, shares = excluded.shares, price = excluded.price, "
                "time = excluded.time, commission = coalesce(excluded.commission, executions.commission), "
                "booked = excluded.booked",
                (base, report.exec_id, record.client_ref, report.order_id, report.con_id, report.shares,
                 report.price, report.time, commission, time.time()))
            if old is None and not estimated:
                size, price = self._move_position(report.con_id, record.symbol, report.shares, report.price)
            else:
                size, price = self._rebuild_position(report.con_id, record.symbol)
            filled = self._db.execute("UPDATE orders SET filled = (SELECT coalesce(sum(abs(shares)), 0) FROM "
                                      "executions WHERE client_ref = ?), updated = ? WHERE client_ref = ? "
                                      "RETURNING filled", (record.client_ref, time.time(), record.client_ref)
                                      ).fetchone()[0]
        self._cache_order(record.client_ref, filled=filled)
        kind = "new" if old is None else "correction"
        delta = report.shares - (old["shares"] if old is not None else 0.0)
        if commission is None and old is not None:
            commission = old["commission"]
        return Booking(kind, record.client_ref, delta, report.price, commission, size, price)

    def _absorb_estimate(self, client_ref: str, exec_id: str, shares: float) -> bool:
        """A real execution of an order that has a booking made from its completed order (IB had
        stopped reporting its executions) takes its shares out of that estimate, so nothing is
        counted twice; True if there was one."""
        if exec_id.startswith(UNREPORTED_EXEC_PREFIX):
            self._estimated.add(client_ref)
            return False
        if client_ref not in self._estimated:
            return False
        row = self._db.execute("SELECT exec_base, shares FROM executions WHERE client_ref = ? AND exec_id LIKE ?",
                               (client_ref, f"{UNREPORTED_EXEC_PREFIX}%")).fetchone()
        if row is None:
            return False
        left = row["shares"] - shares
        if left * row["shares"] <= _EPS:
            self._db.execute("DELETE FROM executions WHERE exec_base = ?", (row["exec_base"],))
            self._estimated.discard(client_ref)
        else:
            self._db.execute("UPDATE executions SET shares = ? WHERE exec_base = ?", (left, row["exec_base"]))
        return True

    def record_commission(self, exec_id: str, commission: float) -> bool:
        """Attach a commission report; True if its execution is booked, else it waits for it."""
        cur = self._db.execute("UPDATE executions SET commission = ? WHERE exec_id = ?", (commission, exec_id))
        if cur.rowcount:
            return True
        self._db.execute("INSERT OR REPLACE INTO commissions VALUES (?, ?, ?)", (exec_id, commission, time.time()))
        self._early.add(exec_id)
        return False

    def execution(self, exec_id: str) -> dict[str, Any] | None:
        """The booked execution of this execId's base (as a dict), None if not booked."""
        row = self._db.execute("SELECT * FROM executions WHERE exec_base = ?", (exec_base(exec_id)[0],)).fetchone()
        return dict(row) if row else None

    def executions(self, client_ref: str | None = None) -> list[dict[str, Any]]:
        """Booked executions (of one order), in time order."""
        if client_ref is None:
            rows = self._db.execute("SELECT * FROM executions ORDER BY time, exec_base").fetchall()
        else:
            rows = self._db.execute("SELECT * FROM executions WHERE client_ref = ? ORDER BY time, exec_base",
                                    (client_ref,)).fetchall()
        return [dict(r) for r in rows]

    def last_execution_time(self) -> float | None:
        """Time of the newest execution IB reported (epoch seconds), None if none; bookings made
        from a completed order (:data:`UNREPORTED_EXEC_PREFIX`) carry the booking time, not IB's."""
        return self._db.execute("SELECT max(time) FROM executions WHERE exec_id NOT LIKE ?",
                                (f"{UNREPORTED_EXEC_PREFIX}%",)).fetchone()[0]

    # -- positions -----------------------------------------------------------------------------------
    def position(self, con_id: int) -> tuple[float, float]:
        """(size, average price) of this strategy in a contract."""
        held = self._positions.get(con_id)
        return (held[1], held[2]) if held else (0.0, 0.0)

    def positions(self) -> dict[int, tuple[str, float, float]]:
        """con_id -> (symbol, size, average price) for every non-flat position."""
        return {con_id: held for con_id, held in self._positions.items() if abs(held[1]) > _EPS}

    def adopt_position(self, con_id: int, symbol: str, size: float, avg_price: float) -> None:
        """Take a holding the journal did not trade into the strategy's position (``foreign='adopt'``)."""
        self._db.execute("INSERT INTO positions VALUES (?,?,?,?,?) ON CONFLICT(con_id) DO UPDATE SET "
                         "size = excluded.size, avg_price = excluded.avg_price, updated = excluded.updated",
                         (con_id, symbol, size, avg_price, time.time()))
        self._positions[con_id] = (symbol, size, avg_price)
        self.set_risk(f"adopted:{con_id}", f"{size:+g}@{avg_price:g}")

    def _move_position(self, con_id: int, symbol: str, shares: float, price: float) -> tuple[float, float]:
        size, avg = _moved(*self.position(con_id), shares, price)
        self._db.execute("INSERT INTO positions VALUES (?,?,?,?,?) ON CONFLICT(con_id) DO UPDATE SET "
                         "size = excluded.size, avg_price = excluded.avg_price, updated = excluded.updated",
                         (con_id, symbol, size, avg, time.time()))
        self._positions[con_id] = (symbol, size, avg)
        return size, avg

    def _rebuild_position(self, con_id: int, symbol: str) -> tuple[float, float]:
        adopted = self.risk_value(f"adopted:{con_id}")
        size, avg = 0.0, 0.0
        if adopted:
            held, _, price = adopted.partition("@")
            size, avg = float(held), float(price)
        for shares, price in self._db.execute("SELECT shares, price FROM executions WHERE con_id = ? "
                                              "ORDER BY time, exec_base", (con_id,)):
            size, avg = _moved(size, avg, shares, price)
        self._db.execute("INSERT OR REPLACE INTO positions VALUES (?,?,?,?,?)", (con_id, symbol, size, avg, time.time()))
        self._positions[con_id] = (symbol, size, avg)
        return size, avg

    # -- risk state ----------------------------------------------------------------------------------
    def set_risk(self, key: str, value: str) -> None:
        """Persist one risk fact (``'halt'``, ``'kill_switch'``, ...); '' clears it."""
        if value:
            self._db.execute("INSERT OR REPLACE INTO risk VALUES (?, ?, ?)", (key, value, time.time()))
        else:
            self._db.execute("DELETE FROM risk WHERE key = ?", (key,))

    def risk_value(self, key: str) -> str:
        """A persisted risk fact ('' if unset)."""
        row = self._db.execute("SELECT value FROM risk WHERE key = ?", (key,)).fetchone()
        return row[0] if row else ""

    def daily_baseline(self, day: str) -> float | None:
        """The portfolio value the trading day ``day`` (ISO date) started from, None if not set."""
        row = self._db.execute("SELECT value FROM daily_baseline WHERE day = ?", (day,)).fetchone()
        return row[0] if row else None

    def set_daily_baseline(self, day: str, value: float) -> float:
        """Set the day's baseline unless one exists; return the baseline in force."""
        self._db.execute("INSERT OR IGNORE INTO daily_baseline VALUES (?, ?, ?)", (day, value, time.time()))
        return self.daily_baseline(day)  # type: ignore[return-value]

    # -- helpers -------------------------------------------------------------------------------------
    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for every write inside (one event: a fill and the state change it
        causes): readers see all of it or none, and it costs one commit. Nests as a no-op; an
        error rolls it back and reloads the in-memory orders and positions."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            self._load_cache()
            raise
        self._db.execute("COMMIT")

    _tx = batch


def _epoch(when: dt.datetime) -> float:
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).timestamp()


def _newer(exec_id: str, than: str) -> bool:
    """True when ``exec_id``'s correction suffix is later than ``than``'s (same base)."""
    new, old = exec_base(exec_id)[1], exec_base(than)[1]
    try:
        return int(new, 16) > int(old, 16)
    except ValueError:
        return new > old


def _moved(size: float, avg: float, shares: float, price: float) -> tuple[float, float]:
    """Position (size, average price) after a signed fill, as backtrader's ``Position.update``."""
    new = size + shares
    if abs(new) < _EPS:
        return 0.0, 0.0
    if size * new < 0 or abs(size) < _EPS:
        return new, price  # opened, or reversed: the new part's price
    if abs(new) > abs(size):
        return new, (avg * size + price * shares) / new
    return new, avg  # reduced: the average stays


def _record(row: sqlite3.Row) -> OrderRecord:
    return OrderRecord(row["client_ref"], row["order_id"], row["perm_id"], row["client_id"], row["account"],
                       row["con_id"], row["symbol"], row["contract"], row["side"], row["size"],
                       row["order_type"], row["limit_price"], row["stop_price"], row["parent_ref"],
                       row["state"], row["filled"], row["process"])
