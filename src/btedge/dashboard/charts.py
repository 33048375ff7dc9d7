"""Altair charts for the dashboard (specs only: Streamlit renders them)."""
from __future__ import annotations

import altair as alt
import pandas as pd

UP, DOWN = "#26a69a", "#ef5350"


def _naive(times: pd.Series) -> pd.Series:
    """Times as naive UTC (Vega-Lite shows naive times as they are)."""
    times = pd.to_datetime(times)
    return times.dt.tz_convert("UTC").dt.tz_localize(None) if times.dt.tz is not None else times


def _frame(bars: pd.DataFrame, extra: pd.DataFrame | None = None) -> pd.DataFrame:
    data = bars[["open", "high", "low", "close"]].astype(float)
    if extra is not None:
        data = data.join(extra)
    data = data.reset_index()
    data = data.rename(columns={data.columns[0]: "time"})
    data["time"] = _naive(data["time"])
    return data


def candles(bars: pd.DataFrame, lines: pd.DataFrame | None = None, fills: pd.DataFrame | None = None,
            title: str = "", height: int = 320) -> alt.LayerChart:
    """Candles with overlay lines (``support``, ``resistance``, ``laguerre`` if in ``lines``) and
    fill markers (``bar_time``, ``price``, ``shares``: green up-triangles bought, red down sold)."""
    data = _frame(bars, lines[[c for c in ("support", "resistance", "laguerre") if c in lines]]
                  if lines is not None else None)
    data["up"] = data["close"] >= data["open"]
    base = alt.Chart(data).encode(x=alt.X("time:T", title=None))
    color = alt.condition("datum.up", alt.value(UP), alt.value(DOWN))
    wick = base.mark_rule().encode(y=alt.Y("low:Q", scale=alt.Scale(zero=False), title=title), y2="high:Q",
                                   color=color)
    body = base.mark_bar().encode(y="open:Q", y2="close:Q", color=color)
    layers = [wick, body]
    overlay = [c for c in ("support", "resistance", "laguerre") if c in data]
    if overlay:
        long = data.melt(id_vars=["time"], value_vars=overlay, var_name="line", value_name="value").dropna()
        layers.append(alt.Chart(long).mark_line(strokeWidth=1.2).encode(
            x="time:T", y="value:Q", color=alt.Color("line:N", legend=alt.Legend(orient="top")),
            strokeDash=alt.condition("datum.line == 'laguerre'", alt.value([1, 0]), alt.value([4, 3]))))
    if fills is not None and len(fills):
        marks = pd.DataFrame({"time": _naive(fills["bar_time"]).to_numpy(),
                              "price": fills["price"].astype(float).to_numpy(),
                              "shares": fills["shares"].astype(float).to_numpy()})
        for side, shape, colour in (("buy", "triangle-up", "#1b5e20"), ("sell", "triangle-down", "#b71c1c")):
            rows = marks[(marks["shares"] > 0) == (side == "buy")]
            if len(rows):
                layers.append(alt.Chart(rows).mark_point(shape=shape, size=150, filled=True, color=colour,
                                                         opacity=0.95, stroke="black", strokeWidth=0.5)
                              .encode(x="time:T", y="price:Q", tooltip=["time:T", "price:Q", "shares:Q"]))
    return alt.layer(*layers).resolve_scale(color="independent").properties(height=height)


def series(frame: pd.DataFrame, columns: list[str], title: str = "", height: int = 160) -> alt.Chart:
    """Lines of ``columns`` of ``frame`` over its index."""
    data = frame[columns].reset_index()
    data = data.rename(columns={data.columns[0]: "time"})
    data["time"] = _naive(data["time"])
    long = data.melt(id_vars=["time"], value_vars=columns, var_name="line", value_name="value").dropna()
    return alt.Chart(long).mark_line().encode(
        x=alt.X("time:T", title=None), y=alt.Y("value:Q", title=title, scale=alt.Scale(zero=False)),
        color=alt.Color("line:N", legend=alt.Legend(orient="top"))).properties(height=height)
