"""Walk-forward evaluation of btedge's ML strategies on real intraday data (../shared/data).

For each data set, every strategy runs over the whole series with the same costs (5 bps
commission and 1 bp slippage per side, next-bar-open fills); all figures are computed on the
out-of-sample segment only, the bars from ``train_bars`` on (where the first fold model starts
to score). Buy-and-hold is run on that segment alone. ML accuracy comes from
:class:`btedge.analyzers.SignalQuality` (bars whose label horizon has passed), beside the
majority-class and persistence baselines on the same bars.

    .venv/bin/python scripts/evaluate_ml.py [--sets btc,spy,usdjpy,gbpusd,pairs] [--pairs 10]
        [--write docs/ml_evaluation.md] [--cache .cache/btedge-eval]

Writes the result tables between the markers in ``--write`` (text around them is kept) and
prints them. Models are cached in ``--cache``: a re-run with the same settings retrains nothing.
"""
from __future__ import annotations

import argparse
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import backtrader as bt
import pandas as pd

from btedge.analyzers import SignalQuality
from btedge.engine import BacktestConfig, build_cerebro
from btedge.feeds import load_csv
from btedge.feeds.timestamps import infer_periods_per_year
from btedge.metrics import performance_stats
from btedge.strategies import get_strategy

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "repos" / "intraday"
START, END = "<!-- results:start -->", "<!-- results:end -->"
ML = ("ensemble", "lagnet_forecast", "anomaly_breakout")
RULES = ("laguerre_cross", "laguerre_trend")
COSTS = BacktestConfig(commission=0.0005, slippage=0.0001, benchmark=False)


@dataclass(frozen=True)
class DataSet:
    name: str
    file: str
    train_bars: int
    retrain_every: int
    load: dict


SETS = {
    "btc": DataSet("BTC-perp 1m", "nautilus_btc-perp_1m_20211231-20220201.csv.gz", 5000, 2500, {}),
    "spy": DataSet("SPY 1m (2011-01)", "pyalgotrade_nt-spy-minute-2011-01.csv", 4000, 2000, {}),
    "usdjpy": DataSet("USDJPY 1m bid", "nautilus_fxcm_usdjpy_m1_bid_2013-02.csv.gz", 5000, 2500, {}),
    "gbpusd": DataSet("GBPUSD 1m bid", "nautilus_fxcm_gbpusd_m1_bid_2012-02.csv.gz", 5000, 2500, {}),
}
PAIRS_FILE = "freqtrade_10pairs_BTC_5m_2018-01.csv.gz"


def ml_params(ds: DataSet, cache: str) -> dict[str, Any]:
    return dict(train_bars=ds.train_bars, retrain_every=ds.retrain_every, window="sliding", horizon=5,
                seq_len=32, hidden=16, epochs=3, max_samples=4000, min_samples=200, cache_dir=cache)


STRATEGY_PARAMS = {
    "ensemble": dict(members="lstm,lstm,cnn,cnn,tcn,tcn,xgb", weights="learned", min_confidence=0.45),
    "lagnet_forecast": dict(cost=0.0012, cost_mult=1.0),
    "anomaly_breakout": dict(hold=10, contamination=0.02),
}


class OOSTrades(bt.Analyzer):
    """Closed trades whose exit is in the out-of-sample segment."""

    params = (("start", None),)

    def start(self) -> None:
        self.closed = 0

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.isclosed and bt.num2date(trade.dtclose) >= self.p.start:
            self.closed += 1

    def get_analysis(self) -> dict[str, int]:
        return {"trades": self.closed}


def run_one(name: str, df: pd.DataFrame, params: dict[str, Any], oos_start: pd.Timestamp) -> dict[str, Any]:
    cerebro = build_cerebro(get_strategy(name), [("data", df)], params, COSTS)
    cerebro.addanalyzer(OOSTrades, _name="oos", start=oos_start.to_pydatetime())
    if name in ("ensemble", "lagnet_forecast"):
        cerebro.addanalyzer(SignalQuality, _name="sq")
    t0 = time.perf_counter()
    strat = cerebro.run()[0]
    wall = time.perf_counter() - t0
    returns = strat.analyzers.performance.returns
    stats = performance_stats(returns[returns.index >= oos_start], infer_periods_per_year(df.index))
    row = {"strategy": name, "sharpe": stats["sharpe"], "max_dd": stats["max_drawdown"],
           "total_return": stats["total_return"], "trades": strat.analyzers.oos.get_analysis()["trades"],
           "wall_s": wall}
    if hasattr(strat.analyzers, "sq"):
        q = strat.analyzers.sq.get_analysis()
        row.update(acc=q["accuracy"], majority=q["majority_accuracy"], persistence=q["persistence_accuracy"],
                   scored=q["n_scored"])
    return row


def evaluate(label: str, df: pd.DataFrame, ds: DataSet, cache: str) -> list[dict[str, Any]]:
    oos_start = df.index[ds.train_bars]
    common = dict(direction="both", integer=False)
    rows = []
    for name in ML:
        rows.append(run_one(name, df, {**common, **ml_params(ds, cache), **STRATEGY_PARAMS[name]}, oos_start))
        logging.warning("%s %s: %s", label, name, rows[-1])
    for name in RULES:
        rows.append(run_one(name, df, common, oos_start))
    rows.append(run_one("buy_and_hold", df.iloc[ds.train_bars:], {"integer": False}, oos_start))
    for r in rows:
        r["data"] = label
    return rows


def fmt(x: Any, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, int):
        return str(x)
    return f"{100 * x:.1f}%" if pct else f"{x:.2f}"


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| data | strategy | OOS acc | majority | persistence | scored bars | Sharpe | max DD | "
            "return | trades | wall s |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r['data']} | {r['strategy']} | {fmt(r.get('acc'), True)} | {fmt(r.get('majority'), True)} | "
        f"{fmt(r.get('persistence'), True)} | {fmt(r.get('scored'))} | {fmt(r['sharpe'])} | "
        f"{fmt(r['max_dd'], True)} | {fmt(r['total_return'], True)} | {r['trades']} | {r['wall_s']:.0f} |\n"
        for r in rows
    )
    return head + body


def write(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else f"# ML evaluation\n\n{START}\n{END}\n"
    if START not in old:
        old += f"\n{START}\n{END}\n"
    new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: f"{START}\n{text}{END}", old, flags=re.S)
    path.write_text(new)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="btc,spy,usdjpy,gbpusd,pairs")
    ap.add_argument("--pairs", type=int, default=10, help="how many of the 10 freqtrade pairs")
    ap.add_argument("--cache", default=".cache/btedge-eval")
    ap.add_argument("--write", type=Path, help="markdown file to update between the result markers")
    ap.add_argument("--smoke", type=int, default=0, help="first N bars only, train_bars N/2 (a quick check)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    rows: list[dict[str, Any]] = []
    for key in args.sets.split(","):
        if key == "pairs":
            rows += evaluate_pairs(args.pairs, args.cache)
            continue
        ds = SETS[key]
        df = load_csv(SHARED / ds.file)
        if args.smoke:
            df = df.iloc[: args.smoke]
            ds = DataSet(ds.name, ds.file, args.smoke // 2, args.smoke // 4, {})
        rows += evaluate(f"{ds.name}, {len(df)} bars", df, ds, args.cache)
        print(table(rows), flush=True)
    text = table(rows)
    print(text)
    if args.write:
        write(args.write, text)


def evaluate_pairs(n: int, cache: str) -> list[dict[str, Any]]:
    raw = pd.read_csv(SHARED / PAIRS_FILE, usecols=["pair"])
    pairs = sorted(raw["pair"].unique())[:n]
    ds = DataSet("pair 5m", PAIRS_FILE, 2000, 1000, {})
    rows = []
    for pair in pairs:
        df = load_csv(SHARED / PAIRS_FILE, symbol=pair)
        rows += evaluate(f"{pair} 5m, {len(df)} bars", df, ds, cache)
        print(table(rows[-6:]), flush=True)
    return rows


if __name__ == "__main__":
    main()
