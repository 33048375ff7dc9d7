"""Walk-forward fold boundaries by bar index (no backtrader import).

Fold k starts at bar ``b_k = train_bars + k * retrain_every``. Its model is trained when bar b_k
arrives, on bars strictly before b_k, and scores bars b_k .. b_{k+1} - 1. Training samples are
the bars t with ``start <= t < b_k - embargo``: with ``embargo >= horizon + 1`` every label used
(it needs the close at t + horizon) was known before b_k. ``start`` is 0 for an expanding window
and ``b_k - train_bars`` for a sliding one. Nothing depends on the series length, so a truncated
series has the same folds up to its end.
"""
from __future__ import annotations

from dataclasses import dataclass

WINDOWS = ("expanding", "sliding")


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: train on ``[train_start, train_stop)``, score from ``boundary``."""

    boundary: int
    train_start: int
    train_stop: int


@dataclass(frozen=True)
class Schedule:
    """Walk-forward schedule.

    Args:
      train_bars: bars before the first fold (and the sliding window length), > embargo
      retrain_every: bars between folds (>= 1)
      horizon: label horizon in bars (>= 1)
      window: ``"expanding"`` or ``"sliding"``
      embargo: bars dropped before each boundary; 0 means ``horizon + 1``; else >= horizon + 1
    """

    train_bars: int
    retrain_every: int
    horizon: int = 1
    window: str = "expanding"
    embargo: int = 0

    def __post_init__(self) -> None:
        if int(self.horizon) < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon!r}")
        if self.embargo and self.embargo < self.horizon + 1:
            raise ValueError(
                f"embargo must be >= horizon + 1 = {self.horizon + 1} (or 0 for that default), got {self.embargo!r}"
            )
        if int(self.retrain_every) < 1:
            raise ValueError(f"retrain_every must be >= 1, got {self.retrain_every!r}")
        if int(self.train_bars) <= self.gap:
            raise ValueError(f"train_bars must be > embargo ({self.gap}), got {self.train_bars!r}")
        if self.window not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, got {self.window!r}")

    @property
    def gap(self) -> int:
        """The effective embargo in bars."""
        return self.embargo or self.horizon + 1

    def is_boundary(self, t: int) -> bool:
        return t >= self.train_bars and (t - self.train_bars) % self.retrain_every == 0

    def boundary_at(self, t: int) -> int | None:
        """The boundary of the fold that scores bar t (None before the first fold)."""
        if t < self.train_bars:
            return None
        return t - (t - self.train_bars) % self.retrain_every

    def boundaries(self, n: int) -> list[int]:
        """All fold boundaries inside a series of n bars."""
        return list(range(self.train_bars, n, self.retrain_every))

    def fold(self, boundary: int) -> Fold:
        if not self.is_boundary(boundary):
            raise ValueError(f"bar {boundary} is not a fold boundary of {self}")
        start = 0 if self.window == "expanding" else boundary - self.train_bars
        return Fold(boundary, start, boundary - self.gap)
