"""The contract: the vector engine's fills and equity equal backtrader's, for every supported
strategy, with params drawn at random (fixed seed) on slices of real files from ../shared.

Compared to 1e-9: every fill (bar, signed size, price, commission), the value at every bar's
close, the position, the Performance figures and return series, and the TradeStats figures.
"""
from __future__ import annotations

import numpy as np
import pytest

from btedge.engine import BacktestConfig
from btedge.strategies import get_strategy
from tests.vector.files import FILES, GAPPED, file_id, load
from tests.vector.reference import assert_same_run, compare_runs, draw_config, draw_risk_params, uniform

pytestmark = pytest.mark.shared

STRATEGIES = ("laguerre_cross", "laguerre_trend", "laguerre_channel", "buy_and_hold")


def draw_params(rng: np.random.Generator, name: str) -> dict:
    """BaseStrategy's risk params and the strategy's own, drawn over their valid ranges."""
    p = draw_risk_params(rng)
    if name == "laguerre_cross":
        fast = uniform(rng, 0.0, 0.7)
        p.update(gamma_fast=fast, gamma_slow=uniform(rng, fast + 0.01, 0.95), seed=bool(rng.random() < 0.8))
    elif name == "laguerre_trend":
        p.update(gamma=uniform(rng, 0.0, 0.95), band=uniform(rng, 0.0, 0.01) if rng.random() < 0.5 else 0.0,
                 seed=bool(rng.random() < 0.8))
    elif name == "laguerre_channel":
        p.update(gamma=uniform(rng, 0.0, 0.95), period=int(rng.integers(2, 40)), devfactor=uniform(rng, 0.0, 3.0),
                 seed=bool(rng.random() < 0.8))
    return p


def _cases(seed: int, count: int, bars: tuple[int, int]) -> list[tuple]:
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(count):
        entry = FILES[k % len(FILES)]
        name = STRATEGIES[k % len(STRATEGIES)] if k < 2 * len(STRATEGIES) else str(rng.choice(STRATEGIES))
        cases.append((entry, name, int(rng.integers(*bars)), int(rng.integers(0, 10_000)),
                      draw_params(rng, name), draw_config(rng)))
    return cases


def _run_case(entry, name, length, start, params, config) -> int:
    full = load(*entry)
    start = start % max(1, len(full) - length) if len(full) > length else 0
    df = full.iloc[start:start + length]
    return assert_same_run(get_strategy(name), df, params, config)


@pytest.mark.parametrize("case", _cases(seed=13, count=24, bars=(150, 500)),
                         ids=lambda c: f"{c[1]}-{file_id(c[0])}")
def test_vector_equals_backtrader(case):
    _run_case(*case)


@pytest.mark.slow
@pytest.mark.parametrize("case", _cases(seed=2026, count=72, bars=(300, 1500)),
                         ids=lambda c: f"{c[1]}-{file_id(c[0])}")
def test_vector_equals_backtrader_more_draws(case):
    _run_case(*case)


@pytest.mark.parametrize("name", STRATEGIES)
def test_trading_cases_make_trades(name):
    """The defaults on BTC minutes trade (so equality above is not vacuous)."""
    df = load(*FILES[18], stop=2000)
    assert assert_same_run(get_strategy(name), df, {"integer": False}, BacktestConfig(benchmark=False)) > 0


@pytest.mark.parametrize("fraction, slippage, direction", [(1.0, 0.0001, "long"), (0.9995, 0.001, "long")])
def test_cash_rejections_match(fraction, slippage, direction):
    """Orders the cash cannot pay: rejected at submission (fraction 1 plus commission) or at the
    fill (an open above the sizing close): both engines reject the same orders."""
    df = load(*FILES[18], stop=1200)
    config = BacktestConfig(benchmark=False, slippage=slippage)
    params = {"integer": False, "fraction": fraction, "direction": direction}
    fills = assert_same_run(get_strategy("laguerre_cross"), df, params, config)
    signals = assert_same_run(get_strategy("laguerre_cross"), df, {**params, "fraction": 0.5}, config)
    assert fills < signals  # some entries were rejected


@pytest.mark.parametrize("name, entry, stop, params, config", [
    ("laguerre_trend", GAPPED[0], None, {"direction": "both", "stop_loss": 0.03, "take_profit": 0.05}, {}),
    ("laguerre_cross", GAPPED[0], None, {"direction": "both", "fraction": 0.99}, {"commission": 0.002}),
    ("laguerre_cross", FILES[18], 1200, {"direction": "both", "fraction": 0.9995, "integer": False,
                                         "stop_loss": 0.002, "take_profit": 0.003}, {"slippage": 0.001}),
], ids=["esc-brackets", "esc-whole-units", "btc-brackets"])
def test_entries_refused_for_cash_are_counted_alike(name, entry, stop, params, config):
    """Entries the broker refuses for cash (at a gapped open, or with fraction near 1 and costs),
    long and short, with and without brackets: the same fills and the same ``skipped_entries``
    (counted once per signal, however many bars the entry is retried)."""
    df = load(*entry, stop=stop)
    fills, skipped = compare_runs(get_strategy(name), df, params, BacktestConfig(benchmark=False, **config))
    assert fills > 20 and skipped > 0
