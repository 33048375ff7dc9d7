"""Direction labels over a horizon (no backtrader import).

Classes: 0 = short, 1 = neutral, 2 = long. A label at bar t needs the close at t + horizon, so
it is NaN for the last ``horizon`` bars of whatever series it is computed on: a training slice
that ends at bar b can only contain labels whose horizon has passed before b.

The neutral band scales with volatility known at t (the std of the last ``vol_window`` one-bar
log returns, ending at t), so one setting works across assets and bar sizes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from btedge.models.features import rolling_std

SHORT_CLASS, NEUTRAL_CLASS, LONG_CLASS = 0, 1, 2
CLASS_NAMES = ("short", "neutral", "long")
#: Class index -> trading side (-1, 0, +1).
CLASS_SIDE = np.array([-1, 0, 1])


@dataclass(frozen=True)
class LabelSpec:
    """How labels are made.

    Args:
      horizon: bars ahead (>= 1)
      band: neutral half-width in units of sigma_t * sqrt(horizon) (>= 0)
      method: ``"fixed"`` (sign of the forward return outside the band) or ``"barrier"``
        (triple barrier: first touch of close * (1 +/- band * sigma_t * sqrt(h)) by the high/low
        within the horizon; neutral when the vertical barrier is hit first)
      vol_window: bars in sigma_t
    """

    horizon: int = 5
    band: float = 0.5
    method: str = "fixed"
    vol_window: int = 60

    def __post_init__(self) -> None:
        if int(self.horizon) < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon!r}")
        if not self.band >= 0.0:
            raise ValueError(f"band must be >= 0, got {self.band!r}")
        if self.method not in ("fixed", "barrier"):
            raise ValueError(f"method must be 'fixed' or 'barrier', got {self.method!r}")
        if int(self.vol_window) < 2:
            raise ValueError(f"vol_window must be >= 2, got {self.vol_window!r}")

    def key(self) -> dict:
        return {"horizon": self.horizon, "band": self.band, "method": self.method, "vol_window": self.vol_window}


def forward_return(close: np.ndarray, horizon: int) -> np.ndarray:
    """close[t + h] / close[t] - 1, NaN where t + h is past the end."""
    c = np.asarray(close, dtype=float)
    out = np.full(c.shape, np.nan)
    if c.size > horizon:
        out[:-horizon] = c[horizon:] / c[:-horizon] - 1.0
    return out


def band_width(close: np.ndarray, spec: LabelSpec) -> np.ndarray:
    """Half-width of the neutral band at each bar (volatility known at t only)."""
    c = np.asarray(close, dtype=float)
    r = np.full(c.shape, np.nan)
    r[1:] = np.log(c[1:] / c[:-1])
    return spec.band * rolling_std(r, spec.vol_window) * np.sqrt(spec.horizon)


def make_labels(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, spec: LabelSpec
) -> np.ndarray:
    """Float array of classes 0/1/2, NaN where the label is not known yet or warm-up."""
    c = np.asarray(close, dtype=float)
    width = band_width(c, spec)
    if spec.method == "fixed":
        fwd = forward_return(c, spec.horizon)
        lab = np.where(fwd > width, LONG_CLASS, np.where(fwd < -width, SHORT_CLASS, NEUTRAL_CLASS))
        return np.where(np.isnan(fwd) | np.isnan(width), np.nan, lab.astype(float))
    return _barrier_labels(np.asarray(high, float), np.asarray(low, float), c, width, spec.horizon)


def _barrier_labels(h: np.ndarray, low: np.ndarray, c: np.ndarray, width: np.ndarray, horizon: int) -> np.ndarray:
    n = c.size
    out = np.full(n, np.nan)
    upper, lower = c * (1.0 + width), c * (1.0 - width)
    for t in range(n - horizon):
        if np.isnan(width[t]):
            continue
        label = NEUTRAL_CLASS
        for k in range(t + 1, t + horizon + 1):
            up, down = h[k] >= upper[t], low[k] <= lower[t]
            if up or down:  # both in one bar: the close decides
                label = LONG_CLASS if (up and not down) or (up and c[k] >= c[t]) else SHORT_CLASS
                break
        out[t] = label
    return out
