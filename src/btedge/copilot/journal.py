"""The advice journal: one JSON line per advice and per gate decision, appended as they happen.

    {"kind": "advice", "symbol", "bar_time", "image_sha256", "bars_sha256", "advisor", "prompt", "reply",
     "advice": {"stance", "confidence", "rationale"} | null, "error": str | null, "seconds"}
    {"kind": "decision", "symbol", "bar_time", "advice_bar_time", "side", "allowed", "reason"}

``bar_time`` is the UTC ISO time of the snapshot's last bar. ``image_sha256`` is the PNG's hash
(empty when no image was drawn: the rules advisor), ``bars_sha256`` the hash of the bars shown. A backtest replays the advice
records with :class:`ReplayAdvisor`; the dashboard lists the journal.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pandas as pd

from btedge.copilot.advice import Advice, AdviceError


def iso(bar_time: Any) -> str:
    stamp = pd.Timestamp(bar_time)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.isoformat()


class AdviceJournal:
    """Appends records to ``path`` (JSONL, flushed per line, thread-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True, allow_nan=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a journal; a torn last line (a crash mid-write) is skipped."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


class ReplayAdvisor:
    """Replays recorded advice by (symbol, bar time): the same reply gives the same decision.

    A bar without a record, a record without advice (the call had failed) or bars whose hash
    differs from the recorded one raise :class:`AdviceError` (no trade)."""

    name = "replay"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.records = {(r["symbol"], r["bar_time"]): r for r in read_journal(path) if r.get("kind") == "advice"}
        self.last_prompt = self.last_reply = ""

    def advise(self, snapshot: Any, context: dict | None = None) -> Advice:
        record = self.records.get((snapshot.symbol, iso(snapshot.bar_time)))
        if record is None:
            raise AdviceError(f"no recorded advice for {snapshot.symbol} at {iso(snapshot.bar_time)}")
        if record.get("bars_sha256") != snapshot.bars_sha256:
            raise AdviceError(f"the chart at {record['bar_time']} differs from the recorded one")
        self.last_prompt, self.last_reply = record.get("prompt", ""), record.get("reply", "")
        if record.get("advice") is None:
            raise AdviceError(f"recorded failure: {record.get('error')}")
        return Advice(**record["advice"])
