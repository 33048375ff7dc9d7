"""The bar-to-order path after its latency work, with both client libraries: the order is still
committed to the journal before its bytes reach the socket, the backtrader order built after the
send is tracked and notified as before, and the store's watchdog never runs between a bar and the
order it triggers (it waits for a pass that brought no bar, at most ``_WATCHDOG_DEFER``), and
neither does the journal's checkpoint (its disk syncs): commits leave it to ``Journal.maintain``,
which the store calls from those idle passes."""
from __future__ import annotations

import gc
import shutil
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import backtrader as bt
import pytest

from btedge.live import IBStore
from btedge.live import store as store_module
from btedge.live.journal import BACKSTOP_PAGES, CHECKPOINT_CHANGES, ExecutionReport, Journal, OrderRecord
from btedge.live.risk import RiskGate, RiskLimits
from btedge.live.session import build_session
from btedge.live.store import _WATCHDOG_DEFER, _WATCHDOG_EVERY
from tests.support.live_session import Scripted, live_config

pytestmark = pytest.mark.usefixtures("time_limit")
ACCOUNT = "DU1234567"


def _spy_on_place_orders(session: Any, seen: list[tuple[int, int]]) -> None:
    """At every placeOrder frame handed to the socket, count the orders another connection
    reads from the journal file: (frames so far, committed rows)."""
    conn = session.store.ib.client.conn
    write = conn.sendMsg

    def send(frame: bytes) -> None:
        if frame[4:6] == b"3\0":
            path = session.broker.journal.path
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as reader:
                rows = reader.execute("SELECT count(*) FROM orders").fetchone()[0]
            seen.append((len(seen) + 1, rows))
        write(frame)

    conn.sendMsg = send


def _trade(strat: Scripted) -> None:
    strat.sent(strat.close() if strat.position else strat.buy(size=1))


def test_order_is_committed_before_its_bytes_reach_the_socket(fake_gateway, ib_lib, tmp_path):
    config = live_config(fake_gateway, ib_lib, state_dir=tmp_path, run_name="latency")
    session = build_session(config, ["SPY"], Scripted,
                            {"gw": fake_gateway, "actions": dict.fromkeys(range(4), _trade), "live_bars": 5},
                            compression=60, data_kw={"backfill": 2 * 86_400, "qcheck": 0.01},
                            stdstats=False, quicknotify=False)
    seen: list[tuple[int, int]] = []
    _spy_on_place_orders(session, seen)
    strat = session.run()
    assert len(seen) == 4
    assert all(rows >= sent for sent, rows in seen), seen  # each order readable before it went out
    broker = session.broker
    for order in strat.orders:  # built after the send: tracked, journaled under its ref, notified
        ib_order = broker.ib_order(order)
        assert ib_order is not None
        assert broker.journal.order(ib_order.orderRef).order_id == ib_order.orderId
        assert strat.statuses_of(order)[:3] == ["Submitted", "Accepted", "Completed"]
    assert broker.journal.position(strat.data.contract.conId)[0] == 0.0  # buy, close, buy, close


def test_a_refused_order_is_neither_journaled_nor_sent(fake_gateway, ib_lib, tmp_path):
    kill = tmp_path / "halt"
    kill.touch()  # halted: a new entry is refused
    config = live_config(fake_gateway, ib_lib, state_dir=tmp_path, run_name="refused")
    session = build_session(config, ["SPY"], Scripted,
                            {"gw": fake_gateway, "actions": {0: lambda s: s.sent(s.buy(size=5))}, "live_bars": 2},
                            compression=60, data_kw={"backfill": 2 * 86_400, "qcheck": 0.01},
                            broker_kw={"risk": RiskGate(RiskLimits(kill_switch=kill))},
                            stdstats=False, quicknotify=False)
    strat = session.run()
    (order,) = strat.orders
    assert order.status == bt.Order.Rejected and session.broker.ib_order(order) is None
    assert session.broker.journal.orders() == [] and fake_gateway.messages("placeOrder") == []


class _Journal:
    """Counts what the store asks of the journal on its idle passes."""

    def __init__(self) -> None:
        self.maintained = 0

    def heartbeat(self, state: str) -> None:
        pass

    def maintain(self) -> bool:
        self.maintained += 1
        return False


def _watch_runs(store: IBStore, timeout: float, overdue: float) -> list[str]:
    """What happened in one pump, in order: the order watchdog ('watch'), the journal's
    maintenance ('maintain'), a bar queued during the wait ('bar'); the watchdog due since
    ``overdue`` s."""
    events: list[str] = []
    original, maintain = store.ib.openTrades, store.journal.maintain
    store.ib.openTrades = lambda: events.append("watch") or original()
    store.journal.maintain = lambda: events.append("maintain") or maintain()
    store._next_watch = time.monotonic() - overdue
    store.lib.util.getLoop().call_soon(lambda: events.append("bar") or store.wake())
    store.pump(timeout)
    store.ib.openTrades, store.journal.maintain = original, maintain
    return events


def test_the_watchdog_and_the_checkpoint_never_run_between_a_bar_and_its_order(fake_gateway, ib_lib):
    store = IBStore(live_config(fake_gateway, ib_lib))
    store.connect()
    store.attach_broker(SimpleNamespace(journal=_Journal(), on_error=lambda *a: False))
    try:
        # a pump about to wait (the last bar handled): first the watchdog, then the bar
        assert _watch_runs(store, 0.2, overdue=_WATCHDOG_EVERY) == ["maintain", "watch", "bar"]
        assert _watch_runs(store, 0.2, overdue=0.0)[-1] == "bar"  # not due: nothing but the bar
        # another feed has a bar queued (no wait): put off, up to the cap
        assert _watch_runs(store, 0.0, overdue=_WATCHDOG_EVERY) == ["bar"]
        assert _watch_runs(store, 0.0, overdue=_WATCHDOG_DEFER + 0.1) == ["maintain", "watch", "bar"]
    finally:
        store.stop()


def _write(journal: Journal, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        ref = journal.next_client_ref("btedge")
        journal.add_order(OrderRecord(ref, i + 1, None, 11, ACCOUNT, 756733, "SPY", "SPY:STK", "BUY", 1.0, "MKT",
                                      None, None, None, "Submitted", 0.0, ""))
        with journal.batch():
            journal.book_execution(ExecutionReport(f"e.{i:08x}.01.01", ref, 11, ACCOUNT, i + 1, 756733, 1.0,
                                                   100.0, 1_700_000_000.0 + i))
            journal.set_state(ref, "Filled", "fill")


def _orders_in_the_database_file(journal: Journal, tmp_path: Path) -> int:
    """Orders in the main file alone (without its WAL): what checkpoints have copied there."""
    copy = tmp_path / "main-file-only.sqlite"
    shutil.copyfile(journal.path, copy)
    with sqlite3.connect(copy) as db:
        if not db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'orders'").fetchone()[0]:
            return 0  # not even the schema has been copied yet
        return db.execute("SELECT count(*) FROM orders").fetchone()[0]


def test_commits_leave_the_checkpoint_to_maintain(tmp_path):
    journal = Journal.open(tmp_path, ACCOUNT, "ckpt")
    try:
        assert journal._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BACKSTOP_PAGES
        _write(journal, 10)
        assert not journal.maintain()  # under CHECKPOINT_CHANGES rows: nothing to do yet
        _write(journal, CHECKPOINT_CHANGES // 5, start=10)
        wal = Path(f"{journal.path}-wal").stat().st_size
        assert wal > 1000 * 4096  # past SQLite's default threshold: no commit checkpointed it
        assert _orders_in_the_database_file(journal, tmp_path) < 10 + CHECKPOINT_CHANGES // 5
        assert journal.maintain()
        assert _orders_in_the_database_file(journal, tmp_path) == 10 + CHECKPOINT_CHANGES // 5
        assert not journal.maintain()  # nothing new since
    finally:
        journal.close()


def test_the_start_up_heap_is_frozen_before_the_first_connection(fake_gateway, ib_lib, monkeypatch):
    gc.unfreeze()
    monkeypatch.setattr(store_module, "_HEAP_FROZEN", False)
    untouched = IBStore(live_config(fake_gateway, ib_lib, client_id=12), freeze_heap=False)
    untouched.connect()
    untouched.stop()
    assert gc.get_freeze_count() == 0
    store = IBStore(live_config(fake_gateway, ib_lib))
    store.connect()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the imports at least: out of every later full collection
        store_module.freeze_start_up_heap()
        assert gc.get_freeze_count() == frozen  # once per process
    finally:
        store.stop()


def test_no_garbage_collection_between_a_bar_and_its_order(fake_gateway, ib_lib):
    store = IBStore(live_config(fake_gateway, ib_lib), freeze_heap=False)
    store.connect()
    loop = store.lib.util.getLoop()
    try:
        assert gc.isenabled()
        store.pump(0.01)  # nothing arrived: the collector stays on
        assert gc.isenabled()
        loop.call_soon(store.wake)  # a bar is queued during the pump
        store.pump(0.2)
        assert not gc.isenabled()  # the strategy and the order run without a collection
        store.pump(0.01)  # the next pump, once the bar was handled: on again
        assert gc.isenabled()
        loop.call_soon(store.wake)
        store.pump(0.2)
        assert not gc.isenabled()
        store.stop()  # however the session ends, the collector is left on
        assert gc.isenabled()
    finally:
        gc.enable()
        store.stop()
