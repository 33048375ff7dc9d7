"""The rules advisor: describes the chart from its indicators, no model needed (the default).

It reads the snapshot's frame (bars with support/resistance, the Laguerre filter and the
anomaly score) and names one of four situations:

- **breakout**: the close is beyond the previous bar's resistance (support): that side, confident;
- **failed retest**: a breakout within the last ``retest`` bars closed back inside the range:
  flat (a trap);
- **chop**: the close crossed the filter ``chop_crosses`` times or more in the last ``window``
  bars, or the bar is anomalous: flat;
- **trend**: otherwise, the side of the filter's slope when the close agrees with it (above a
  rising filter: long), with confidence growing with the slope in units of the bars' range; else flat.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from btedge.copilot.advice import Advice


@dataclass(frozen=True)
class RulesAdvisor:
    """Params: ``window`` bars examined (default 20), ``chop_crosses`` (default 4), ``retest``
    bars since a breakout that count as a failed retest (default 5), ``slope_bars`` (default 5)."""

    window: int = 20
    chop_crosses: int = 4
    retest: int = 5
    slope_bars: int = 5
    name: str = "rules"

    def facts(self, frame: pd.DataFrame) -> dict[str, float | str]:
        """The numbers the advice rests on, from the last ``window`` bars of ``frame`` (numpy:
        the live worker calls this on every bar)."""
        col = {k: frame[k].to_numpy(dtype=float) for k in ("high", "low", "close", "laguerre", "support",
                                                             "resistance", "score", "threshold")}
        w = self.window
        close, lag = col["close"][-w:], col["laguerre"][-w:]
        above = np.sign(close - lag)
        crosses = int(np.sum(above[1:] * above[:-1] < 0))
        prev_res, prev_sup = (np.concatenate([[np.nan], col[k][:-1]]) for k in ("resistance", "support"))
        with np.errstate(invalid="ignore"):
            up_break = (col["close"] > prev_res)[-w:]
            down_break = (col["close"] < prev_sup)[-w:]
            span = float(np.nanmean(col["high"][-w:] - col["low"][-w:])) or 1e-12
        slope = float(lag[-1] - lag[-1 - self.slope_bars]) / span if len(lag) > self.slope_bars else 0.0
        last_close = col["close"][-1]
        return {"crosses": crosses, "slope": slope, "close_vs_filter": float(np.sign(close[-1] - lag[-1])),
                "breakout_up": bool(up_break[-1]), "breakout_down": bool(down_break[-1]),
                "recent_up": bool(up_break[-self.retest - 1:-1].any()),
                "recent_down": bool(down_break[-self.retest - 1:-1].any()),
                "inside": bool(prev_sup[-1] <= last_close <= prev_res[-1]),
                "anomalous": bool(col["score"][-1] > col["threshold"][-1])}

    def advise(self, snapshot: object, context: dict | None = None) -> Advice:
        frame = snapshot.frame  # type: ignore[attr-defined]
        if len(frame) < self.window or np.isnan(frame[["laguerre", "support", "resistance"]].to_numpy()[-1]).any():
            return Advice("flat", 0.0, "not enough bars for the indicators")
        f = self.facts(frame)
        if f["breakout_up"]:
            return Advice("long", 0.8, "breakout above resistance")
        if f["breakout_down"]:
            return Advice("short", 0.8, "breakdown below support")
        if (f["recent_up"] or f["recent_down"]) and f["inside"]:
            return Advice("flat", 0.7, "failed retest: a recent breakout closed back inside the range")
        if f["crosses"] >= self.chop_crosses or f["anomalous"]:
            why = "anomalous bar" if f["anomalous"] else f"chop: {f['crosses']} filter crosses in {self.window} bars"
            return Advice("flat", 0.6, why)
        slope = float(f["slope"])
        if slope * float(f["close_vs_filter"]) > 0:
            stance = "long" if slope > 0 else "short"
            return Advice(stance, float(min(0.95, 0.5 + abs(slope))), f"trend: filter slope {slope:+.2f} ranges")
        return Advice("flat", 0.5, "no trend: close and filter slope disagree")
