"""Statistics of closed trades from their PnL: win rate, profit factor, streaks."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def _longest_streak(outcomes: np.ndarray, wanted: int) -> int:
    hits = np.concatenate([[0], (outcomes == wanted).astype(np.int8), [0]])
    edges = np.diff(hits)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max()) if len(starts) else 0


def _profit_factor(gross_profit: float, gross_loss: float) -> float | None:
    """Gross profit over gross loss; ``inf`` with profits and no losses, ``None`` with neither."""
    if gross_loss < 0.0:
        return gross_profit / -gross_loss
    return math.inf if gross_profit > 0.0 else None


def trade_summary(pnl_net: np.ndarray) -> dict[str, Any]:
    """
    The win/loss figures of closed trades from their net PnL, without the rest of
    :func:`trade_stats` (what a sweep reports per backtest): ``trades``, ``won``, ``lost``,
    ``win_rate`` and ``profit_factor``, as :func:`trade_stats` gives them (it calls this).
    """
    net = np.asarray(pnl_net, dtype=float)
    wins, losses = net[net > 0.0], net[net < 0.0]
    total = len(net)
    return {
        "trades": total,
        "won": len(wins),
        "lost": len(losses),
        "win_rate": len(wins) / total if total else None,
        "profit_factor": _profit_factor(float(sum(wins.tolist())), float(sum(losses.tolist()))),
    }


def trade_stats(pnl_net: Sequence[float], pnl_gross: Sequence[float], bars_held: Sequence[int]) -> dict[str, Any]:
    """
    Statistics of closed trades from their net PnL (after commission), gross PnL and bars held,
    in closing order. A trade is a win when its net PnL is > 0, a loss when < 0, breakeven at 0.

    Returns a dict: ``trades``, ``won``, ``lost``, ``even``, ``win_rate``, ``avg_win``,
    ``avg_loss``, ``largest_win``, ``largest_loss``, ``profit_factor``, ``expectancy``,
    ``longest_win_streak``, ``longest_loss_streak``, ``pnl_net``, ``pnl_gross``, ``commission``,
    ``avg_bars`` (``None`` where undefined: no trades, no wins, no losses).
    """
    net = np.asarray(pnl_net, dtype=float)
    wins, losses = net[net > 0.0], net[net < 0.0]
    outcomes = np.sign(net).astype(int)  # +1 win, -1 loss, 0 breakeven
    summary = trade_summary(net)
    net_sum, gross_sum = float(sum(pnl_net)), float(sum(pnl_gross))
    return {
        "trades": summary["trades"],
        "won": summary["won"],
        "lost": summary["lost"],
        "even": summary["trades"] - summary["won"] - summary["lost"],
        "win_rate": summary["win_rate"],
        "avg_win": _mean(wins),
        "avg_loss": _mean(losses),
        "largest_win": float(wins.max()) if len(wins) else None,
        "largest_loss": float(losses.min()) if len(losses) else None,
        "profit_factor": summary["profit_factor"],
        "expectancy": _mean(net),
        "longest_win_streak": _longest_streak(outcomes, 1),
        "longest_loss_streak": _longest_streak(outcomes, -1),
        "pnl_net": net_sum,
        "pnl_gross": gross_sum,
        "commission": gross_sum - net_sum,
        "avg_bars": _mean(np.asarray(bars_held, dtype=float)),
    }
