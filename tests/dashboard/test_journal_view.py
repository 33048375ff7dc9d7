"""Reading the journal read-only: missing, not yet created, locked, growing; risk states."""
from __future__ import annotations

import hashlib
import sqlite3
import time

from btedge.dashboard.journal_view import JournalView, Waiting, read_journal
from btedge.dashboard.live import latest_line, live_state


def test_no_journal_given_says_which_flag():
    got = read_journal(None)
    assert isinstance(got, Waiting) and "--journal PATH" in got.reason


def test_missing_file_says_what_it_waits_for(tmp_path):
    path = tmp_path / "run.DU1.sqlite"
    got = read_journal(path)
    assert isinstance(got, Waiting) and "to appear" in got.reason and str(path) in got.reason
    assert not path.exists(), "a reader must not create the journal"


def test_file_without_tables_waits_for_the_writer(tmp_path):
    path = tmp_path / "run.DU1.sqlite"
    sqlite3.connect(path).close()
    got = read_journal(path)
    assert isinstance(got, Waiting) and "not created its tables" in got.reason


def test_locked_journal_waits_and_then_reads(live_files):
    live_files.bar(0)
    live_files.journal.close()  # the writer holds the file alone, in exclusive locking mode
    locker = sqlite3.connect(live_files.path, isolation_level=None)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("UPDATE meta SET value = value WHERE key = 'run_name'")
    locker.execute("COMMIT")  # exclusive locking mode keeps the lock after the commit
    try:
        got = read_journal(live_files.path)
        assert isinstance(got, Waiting) and "locked" in got.reason
    finally:
        locker.close()
    assert isinstance(read_journal(live_files.path), JournalView)


def test_reads_never_write(live_files):
    live_files.bar(0)
    live_files.fill(1, 5, 2500.0)
    live_files.journal.close()

    def digest() -> str:
        return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(live_files.path.parent.glob("test.*"))
                                             if not p.name.endswith("-shm"))).hexdigest()

    before = digest()
    for _ in range(3):
        assert isinstance(read_journal(live_files.path), JournalView)
        live_state(str(live_files.path))
    assert digest() == before


def test_growing_journal_shows_new_rows(live_files):
    live_files.bar(0)
    first = read_journal(live_files.path)
    assert "fills 0" in latest_line(first) and "2017-07-01 11:00:00" in latest_line(first)
    live_files.bar(1)
    live_files.fill(1, 5, 2500.0)
    second = read_journal(live_files.path)
    line = latest_line(second)
    assert "last bar SPY 2017-07-01 12:00:00" in line and "fills 1" in line and "BUY 5 @ 2500" in line


def test_risk_states(live_files):
    view = read_journal(live_files.path)
    assert view.risk_state() == "active"
    live_files.order(3)
    live_files.journal.set_state("btedge:test:3", "Rejected", "201 margin")
    view = read_journal(live_files.path)
    assert view.risk_state(now=time.time()) == "reducing"
    assert view.risk_state(now=time.time() + 120) == "active"
    live_files.journal.set_risk("halt", "kill switch STOP")
    view = read_journal(live_files.path)
    assert view.risk_state() == "halted"
    assert live_state(str(live_files.path)).status["kill switch"] == "HALTED: kill switch STOP"
