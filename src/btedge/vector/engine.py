"""Run a built-in single-instrument strategy with the vector engine, or say why it cannot.

``run_vector(LaguerreCross, [("BTC", df)], params, config)`` gives the fills, trades, value per
bar and the Performance / TradeStats figures a backtrader run of the same strategy gives (equal
to 1e-9, tested in ``tests/vector``). A strategy takes part by declaring its wishes as arrays: a
classmethod ``vector_signals(bars, params) -> Signals`` computed with the same kernels as its
indicators (see :mod:`btedge.vector.signals`); the ML strategies from their walk-forward
indicators' own batch output (the same fold cache, ``pretrained`` and warnings), which read the
data's volume, timestamps and name from the frame :func:`frame_bars` attaches to the bars. An
optional classmethod ``vector_start(params, config)`` runs the checks a strategy's ``start()``
makes of the run's costs. :func:`unsupported` names what the vector engine cannot do (several
datas, a strategy without ``vector_signals``); :func:`vector_backtest` then falls back to
backtrader and logs one line saying why.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Sequence

import numpy as np
import pandas as pd

from btedge.vector.bars import Bars, bars_from_frame
from btedge.vector.returns import performance
from btedge.vector.signals import Signals, entry_gate
from btedge.vector.simulate import simulate

log = logging.getLogger(__name__)

Frames = Sequence[tuple[str, pd.DataFrame]]
_DIRECTIONS = {"long": (0, 1), "short": (-1, 0), "both": (-1, 1)}
_FILL_KINDS = ("close", "entry", "stop", "limit")


@dataclass
class VectorRun:
    """One vector-engine run: the same figures :func:`btedge.engine.run_backtest` reports."""

    index: pd.DatetimeIndex
    value: np.ndarray
    position: np.ndarray
    fills: pd.DataFrame
    trades: pd.DataFrame
    metrics: dict[str, Any]
    trade_stats: dict[str, Any]
    returns: pd.Series
    params: dict[str, Any]


def strategy_params(strategy: type, params: dict[str, Any] | None) -> dict[str, Any]:
    """The strategy's defaults updated with ``params`` (unknown names raise ``ValueError``)."""
    defaults = dict(strategy.params._getitems())
    unknown = sorted(set(params or {}) - set(defaults))
    if unknown:
        raise ValueError(f"unknown param(s) {unknown} for {strategy.__name__}; valid: {', '.join(sorted(defaults))}")
    return {**defaults, **(params or {})}


#: BaseStrategy methods that decide orders: a subclass that overrides one of them below the class
#: declaring ``vector_signals`` trades differently from those signals.
_HOOKS = ("target", "entry_allowed", "position_size", "next", "nextstart", "prenext", "notify_order",
          "notify_trade", "_enter", "_exit")


def _overridden_hooks(strategy: type) -> tuple[str, list[str]]:
    """The class that declares ``vector_signals`` and the order-deciding methods a subclass of it
    overrides."""
    mro = strategy.__mro__
    owner = next(k for k, cls in enumerate(mro) if "vector_signals" in cls.__dict__)
    return mro[owner].__name__, [h for h in _HOOKS if any(h in cls.__dict__ for cls in mro[:owner])]


def unsupported(strategy: type, frames: Frames) -> str | None:
    """Why the vector engine cannot run this (a sentence), or None when it can."""
    if not hasattr(strategy, "vector_signals"):
        return f"{strategy.__name__} declares no vector_signals (only the built-in single-asset strategies do)"
    owner, hooks = _overridden_hooks(strategy)
    if hooks:
        return (f"{strategy.__name__} overrides {', '.join(hooks)} of {owner}, whose vector_signals do not "
                f"know the change (declare vector_signals on {strategy.__name__} to use the vector engine)")
    if len(frames) != 1:
        return f"{strategy.__name__} is given {len(frames)} datas; the vector engine runs one instrument"
    return None


def frame_bars(name: str, df: pd.DataFrame) -> Bars:
    """:func:`bars_from_frame` with the data's name and frame attached (see :func:`attach_frame`)."""
    return attach_frame(bars_from_frame(df), name, df)


def attach_frame(bars: Bars, name: str, df: pd.DataFrame) -> Bars:
    """Attach the data's name and frame to ``bars`` (memo key ``("frame",)``): the ML strategies'
    walk-forward indicators read volume, timestamps, name and timeframe from it."""
    bars.memo[("frame",)] = (name, df)
    return bars


def signals_for(strategy: type, bars: Bars, params: dict[str, Any]) -> Signals:
    """The strategy's signals with BaseStrategy's gate and ATR added (params validated as
    BaseStrategy validates them)."""
    from btedge.strategies.base import BaseStrategy

    BaseStrategy._validate_risk_params(SimpleNamespace(p=SimpleNamespace(**params)))
    sig = strategy.vector_signals(bars, params)
    allowed, atr, first = entry_gate(bars, params, sig.first)
    sig.first, sig.atr = first, atr
    if allowed is not None:
        sig.allowed = allowed if sig.allowed is None else (sig.allowed & allowed)
    return sig


def simulate_signals(bars: Bars, sig: Signals, params: dict[str, Any], config: Any,
                     reenter: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(value, position, fills, skipped entries) of ``sig`` on ``bars`` under ``params`` and ``config``."""
    n = len(bars.close)
    side, exit_long, exit_short, allowed, atr = sig.arrays(n)
    lo, hi = _DIRECTIONS[params["direction"]]
    return simulate(
        bars.open, bars.high, bars.low, bars.close, side, exit_long, exit_short, allowed, atr, int(sig.first),
        lo, hi, float(params["stop_loss"]), float(params["take_profit"]), float(params["fraction"]),
        float(params["risk"]), float(params["atr_mult"]), bool(params["integer"]),
        float(config.cash), float(config.commission), float(config.slippage), reenter,
    )


def fills_table(fills: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Fills as a table: bar, datetime, size (signed), price, commission, kind."""
    bars = fills[:, 0].astype(np.int64)
    return pd.DataFrame({
        "bar": bars,
        "datetime": index[bars],
        "size": fills[:, 1],
        "price": fills[:, 2],
        "commission": fills[:, 3],
        "kind": [_FILL_KINDS[int(k)] for k in fills[:, 4]],
    })


def trade_arrays(fills: np.ndarray) -> dict[str, np.ndarray]:
    """Round trips from the fills (positions open from flat and close in full), with
    backtrader's ``Trade`` PnL: ``pnl = size * (exit - entry)``, ``pnlcomm = pnl - commissions``."""
    opens, exits = fills[0:len(fills) - 1:2], fills[1::2]
    pnl = 0.0 + (-exits[:, 1]) * (exits[:, 2] - opens[:, 2]) * 1.0
    commission = (0.0 + opens[:, 3]) + exits[:, 3]
    return {
        "entry_bar": opens[:, 0].astype(np.int64), "exit_bar": exits[:, 0].astype(np.int64),
        "size": opens[:, 1], "entry_price": opens[:, 2], "exit_price": exits[:, 2],
        "commission": commission, "pnl": pnl, "pnlcomm": pnl - commission,
    }


def trades_table(fills: np.ndarray) -> pd.DataFrame:
    """:func:`trade_arrays` as a table."""
    return pd.DataFrame(trade_arrays(fills))


def _trade_stats(trades: pd.DataFrame, open_trades: int) -> dict[str, Any]:
    from btedge.analyzers.tradestats import trade_stats

    stats = trade_stats(trades["pnlcomm"].tolist(), trades["pnl"].tolist(),
                        (trades["exit_bar"] - trades["entry_bar"]).tolist())
    stats["open"] = open_trades
    return stats


def run_vector(strategy: type, frames: Frames, params: dict[str, Any] | None = None, config: Any = None,
               reenter: bool | None = None) -> VectorRun:
    """Run ``strategy`` on the one frame with the vector engine (see the module docstring)."""
    from btedge.engine import BacktestConfig

    config = config or BacktestConfig(benchmark=False)
    reason = unsupported(strategy, frames)
    if reason:
        raise ValueError(reason)
    full = strategy_params(strategy, params)
    name, df = frames[0]
    bars = frame_bars(name, df)
    sig = signals_for(strategy, bars, full)
    start = getattr(strategy, "vector_start", None)
    if start is not None:  # the strategy's start() checks of the run's config (e.g. lagnet_forecast's cost)
        start(full, config)
    value, position, fills, skipped = simulate_signals(bars, sig, full, config, _reenter(full, reenter))
    metrics, returns = performance(value, position, df.index, config.cash, config.periods_per_year)
    trades = trades_table(fills)
    stats = _trade_stats(trades, int(len(fills) % 2))
    stats["skipped_entries"] = int(skipped)
    return VectorRun(pd.DatetimeIndex(df.index), value, position, fills_table(fills, df.index), trades,
                     metrics, stats, returns, full)


def _reenter(params: dict[str, Any], reenter: bool | None) -> bool:
    if reenter is not None:
        return reenter
    return bool(params.get("reenter", False))


def vector_backtest(strategy: type, frames: Frames, params: dict[str, Any] | None = None, config: Any = None) -> Any:
    """:func:`btedge.engine.run_backtest` with the vector engine (``btedge-backtest --engine vector``):
    the same :class:`~btedge.engine.BacktestResult` figures, ``strategy`` None; an unsupported
    strategy runs in backtrader, with one log line saying why."""
    from btedge.engine import BENCHMARK_FRACTION, BacktestConfig, BacktestResult, _benchmark_frames, run_backtest
    from btedge.vector.buyhold import buy_and_hold

    config = config or BacktestConfig()
    reason = unsupported(strategy, frames)
    if reason:
        log.warning("running in backtrader, not the vector engine: %s", reason)
        return run_backtest(strategy, frames, params, config)
    run = run_vector(strategy, frames, params, config)
    _warn_skipped(run)
    (name, df), = frames
    fills = pd.DataFrame({"time": run.fills["datetime"], "symbol": name, "size": run.fills["size"],
                          "price": run.fills["price"], "commission": run.fills["commission"]})
    result = BacktestResult(None, run.metrics, run.trade_stats, run.returns, fills=fills, closes=df["close"])
    if config.benchmark:
        (name, df), = _benchmark_frames(frames, config.benchmark_name)
        result.benchmark_metrics, result.benchmark_returns = buy_and_hold(df, config, BENCHMARK_FRACTION)
        result.benchmark_metrics.update(asset=name, invested=BENCHMARK_FRACTION)
    return result


def _warn_skipped(run: VectorRun) -> None:
    """One WARNING when entries were skipped, as BaseStrategy warns in a backtrader run (the
    vector engine counts them without telling the two kinds apart)."""
    skipped = run.trade_stats["skipped_entries"]
    if skipped:
        log.warning("%d entry signal(s) skipped: the size rounded to zero units (try --param integer=False) or "
                    "the broker refused the order for cash (fraction %.3g plus costs, or a gap to the next open, "
                    "cost more than the cash: lower --param fraction); backtrader names the first of each kind",
                    skipped, run.params["fraction"])
