"""The co-pilot's advice journal (JSONL, :mod:`btedge.copilot.journal`) as a table for the live page."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

COLUMNS = ["bar_time", "symbol", "kind", "stance", "confidence", "side", "allowed", "why"]


def recent_advice(path: str | Path, last: int = 20) -> pd.DataFrame:
    """The last ``last`` advice and decision records, newest first; a missing file or a torn
    last line (the writer mid-append) is no error."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[-4 * last:]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        advice = record.get("advice") or {}
        rows.append({"bar_time": record.get("bar_time"), "symbol": record.get("symbol"), "kind": record.get("kind"),
                     "stance": advice.get("stance"), "confidence": advice.get("confidence"),
                     "side": record.get("side"), "allowed": record.get("allowed"),
                     "why": record.get("reason") or advice.get("rationale") or record.get("error")})
    return pd.DataFrame(rows[-last:][::-1], columns=COLUMNS)
