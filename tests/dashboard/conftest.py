"""Fixtures for the dashboard tests: a journal written by the real :class:`Journal` with a tape
beside it (real bars from the embedded sample)."""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from btedge.dashboard.tape import TapeWriter, tape_path
from btedge.feeds.sample import sample_data
from btedge.live.journal import ExecutionReport, Journal, OrderRecord

ACCOUNT = "DU1234567"
CON_ID = 756733


@dataclass
class LiveFiles:
    journal: Journal
    tape: TapeWriter
    bars: pd.DataFrame

    @property
    def path(self) -> Path:
        return self.journal.path

    def bar(self, i: int, written: float | None = None) -> None:
        """Deliver bar ``i`` of ``bars``: tape row and the journal's newest bar."""
        when = self.bars.index[i]
        row = self.bars.iloc[i]
        epoch = pd.Timestamp(when).tz_localize("UTC").timestamp()
        self.tape.write([("SPY", epoch, row.open, row.high, row.low, row.close, row.volume,
                          None, None, None, None, 1, written or time.time())])
        self.journal.record_bar("SPY", when.to_pydatetime().replace(tzinfo=dt.timezone.utc))

    def order(self, n: int, shares: float = 1.0) -> str:
        """Journal market order ``n`` (Submitted); returns its client_ref."""
        ref = f"btedge:test:{n}"
        side = "BUY" if shares > 0 else "SELL"
        self.journal.add_order(OrderRecord(ref, n, None, 7, ACCOUNT, CON_ID, "SPY", "SPY:STK:SMART:USD", side,
                                           abs(shares), "MKT", None, None, None, "Submitted", 0.0, "test"))
        return ref

    def fill(self, n: int, shares: float, price: float, commission: float = 1.0) -> None:
        """Order ``n`` (market, whole size) placed and filled at once."""
        ref = self.order(n, shares)
        self.journal.book_execution(ExecutionReport(f"0000{n:04d}.0001.01", ref, 7, ACCOUNT, n, CON_ID, shares,
                                                    price, time.time()))
        self.journal.record_commission(f"0000{n:04d}.0001.01", commission)


@pytest.fixture
def live_files(tmp_path: Path) -> LiveFiles:
    journal = Journal.open(tmp_path, ACCOUNT, "test")
    journal.heartbeat("CONNECTED")
    tape = TapeWriter(tape_path(journal.path))
    yield LiveFiles(journal, tape, sample_data().iloc[:120])
    tape.close()
    journal.close()
