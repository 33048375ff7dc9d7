"""btedge.live.journal: orders, executions booked once per execId base, commissions in any order,
positions, risk state, bars and heartbeat, restarts and a second reader."""
from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from btedge.live.journal import ExecutionReport, Journal, OrderRecord, exec_base

ACCOUNT = "DU1234567"


@pytest.fixture
def journal(tmp_path):
    j = Journal.open(tmp_path, ACCOUNT, "test")
    yield j
    j.close()


def _order(j: Journal, side: str = "BUY", size: float = 2, con_id: int = 756733, client_id: int = 11) -> str:
    ref = j.next_client_ref("btedge")
    j.add_order(OrderRecord(ref, 5, None, client_id, ACCOUNT, con_id, "SPY", "SPY:STK", side, size, "MKT",
                            None, None, None, "Submitted", 0.0, ""))
    return ref


def _exec(ref: str, exec_id: str, shares: float, price: float = 100.0, client_id: int = 11,
          account: str = ACCOUNT, con_id: int = 756733) -> ExecutionReport:
    return ExecutionReport(exec_id, ref, client_id, account, 5, con_id, shares, price, 1_700_000_000.0)


def test_open_names_file_by_run_and_account_and_uses_wal(tmp_path, journal):
    assert journal.path == tmp_path / f"test.{ACCOUNT}.sqlite"
    mode = sqlite3.connect(journal.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    with pytest.raises(ValueError, match="run_name"):
        Journal.open(tmp_path, ACCOUNT, "bad/name")


def test_default_state_dir_is_per_user(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    j = Journal.open(None, ACCOUNT, "x")
    try:
        assert j.path.parent == tmp_path / "state" / "btedge"
    finally:
        j.close()


def test_exec_base_splits_correction_suffix():
    assert exec_base("0000e0d5.6576e5a1.01.02") == ("0000e0d5.6576e5a1.01", "02")


def test_execution_booked_once_and_correction_replaces(journal):
    ref = _order(journal)
    first = journal.book_execution(_exec(ref, "e.1.01", 2, 100.0))
    assert (first.kind, first.delta, first.position) == ("new", 2, 2)
    again = journal.book_execution(_exec(ref, "e.1.01", 2, 100.0))
    assert again.kind == "duplicate" and journal.position(756733) == (2, 100.0)
    fixed = journal.book_execution(_exec(ref, "e.1.02", 2, 101.0))
    assert (fixed.kind, fixed.delta) == ("correction", 0)
    assert journal.position(756733) == (2, 101.0)
    stale = journal.book_execution(_exec(ref, "e.1.01", 2, 100.0))  # the original, replayed late
    assert stale.kind == "duplicate" and journal.position(756733) == (2, 101.0)
    assert len(journal.executions()) == 1 and journal.order(ref).filled == 2


def test_foreign_execution_is_never_booked(journal):
    ref = _order(journal)
    for report in (_exec(ref, "x.1.01", 100, client_id=99), _exec(ref, "x.2.01", 100, account="DU999999"),
                   _exec("someone:else:1", "x.3.01", 100)):
        assert journal.book_execution(report).kind == "foreign"
    assert journal.position(756733) == (0.0, 0.0) and journal.executions() == []


@pytest.mark.parametrize("when", ["before", "after"])
def test_commission_attaches_whichever_comes_first(journal, when):
    ref = _order(journal)
    if when == "before":
        assert journal.record_commission("c.1.01", 1.25) is False
    booking = journal.book_execution(_exec(ref, "c.1.01", 2))
    if when == "after":
        assert booking.commission is None
        assert journal.record_commission("c.1.01", 1.25) is True
    else:
        assert booking.commission == 1.25
    assert journal.execution("c.1.01")["commission"] == 1.25


def test_position_average_price_and_reversal(journal):
    buy, sell = _order(journal), _order(journal, "SELL", 3)
    journal.book_execution(_exec(buy, "p.1.01", 1, 100.0))
    journal.book_execution(_exec(buy, "p.2.01", 1, 110.0))
    assert journal.position(756733) == (2, 105.0)
    journal.book_execution(_exec(sell, "p.3.01", -3, 120.0))
    assert journal.position(756733) == (-1, 120.0)


def test_survives_restart_and_is_readable_by_another_process(tmp_path):
    j = Journal.open(tmp_path, ACCOUNT, "r")
    ref = _order(j)
    j.book_execution(_exec(ref, "r.1.01", 2))
    j.set_daily_baseline("2026-11-30", 1000.0)
    j.set_risk("halt", "daily loss")
    when = dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.timezone.utc)
    j.record_bar("SPY", when)
    j.heartbeat("LIVE")
    reader = sqlite3.connect(f"file:{j.path}?mode=ro", uri=True)
    assert reader.execute("SELECT size FROM positions").fetchone()[0] == 2
    reader.close()
    j.close()
    again = Journal.open(tmp_path, ACCOUNT, "r")
    try:
        assert again.position(756733) == (2, 100.0)
        assert again.set_daily_baseline("2026-11-30", 5.0) == 1000.0  # the first baseline holds
        assert again.risk_value("halt") == "daily loss"
        assert again.last_bar("SPY") == when
        assert again.last_heartbeat()[1] == "LIVE"
        assert again.max_order_id() == 5
        assert again.next_client_ref("btedge") == "btedge:r:2"
    finally:
        again.close()


def test_record_bar_keeps_the_newest(journal):
    late = dt.datetime(2026, 1, 2, 10)
    journal.record_bar("SPY", late)
    journal.record_bar("SPY", late - dt.timedelta(hours=1))
    assert journal.last_bar("SPY") == late.replace(tzinfo=dt.timezone.utc)
    assert journal.last_bar("QQQ") is None


def test_second_live_process_on_one_journal_is_refused(tmp_path):
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        j = Journal.open(tmp_path, ACCOUNT, "one")
        j._db.execute("INSERT INTO heartbeat VALUES (1, strftime('%s','now'), 'LIVE', ?)", (child.pid,))
        j.close()
        with pytest.raises(ValueError, match="--run-name"):
            Journal.open(tmp_path, ACCOUNT, "one")
    finally:
        child.kill()
        child.wait()
    Journal.open(tmp_path, ACCOUNT, "one").close()  # that process is gone: fine
