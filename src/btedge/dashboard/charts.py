"""Vega-Lite specs for the dashboard, written as plain dicts (Streamlit renders them with
``st.vega_lite_chart``).

The specs are built by hand rather than through Altair: Altair's chart objects cost ~0.2-0.5 s of
CPU per refresh for a few hundred bars (schema-checked objects), which on a busy machine was most
of a refresh; these take a few milliseconds. ``tests/dashboard/test_charts.py`` validates them
against Altair's Vega-Lite schema.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

UP, DOWN = "#26a69a", "#ef5350"
OVERLAYS = ("support", "resistance", "laguerre")
_TIME = {"field": "time", "type": "temporal", "title": None}


def _naive(times: pd.Series | pd.Index) -> pd.Series:
    """Times as naive UTC ISO strings (Vega-Lite shows naive times as they are)."""
    times = pd.Series(pd.to_datetime(times))
    if times.dt.tz is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.dt.strftime("%Y-%m-%dT%H:%M:%S")


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows of ``frame`` as JSON-ready dicts: ``time`` as an ISO string, NaN as None."""
    data = frame.astype(object).where(frame.notna(), None)
    return data.to_dict("records")


def _frame(index: pd.Index, columns: dict[str, pd.Series | np.ndarray]) -> pd.DataFrame:
    data = pd.DataFrame({"time": _naive(index).to_numpy()})
    for name, values in columns.items():
        data[name] = np.asarray(values, dtype=float)
    return data


def candles(bars: pd.DataFrame, lines: pd.DataFrame | None = None, fills: pd.DataFrame | None = None,
            title: str = "", height: int = 320) -> dict:
    """Candles with overlay lines (``support``, ``resistance``, ``laguerre`` if in ``lines``) and
    fill markers (``bar_time``, ``price``, ``shares``: green up-triangles bought, red down sold)."""
    overlay = [c for c in OVERLAYS if lines is not None and c in lines]
    columns = {c: bars[c] for c in ("open", "high", "low", "close")}
    columns.update({c: lines[c].reindex(bars.index) for c in overlay})
    data = _frame(bars.index, columns)
    data["up"] = data["close"] >= data["open"]
    color = {"condition": {"test": "datum.up", "value": UP}, "value": DOWN}
    layers: list[dict] = [
        {"mark": "rule", "encoding": {"x": _TIME, "y": {"field": "low", "type": "quantitative", "title": title,
                                                        "scale": {"zero": False}},
                                      "y2": {"field": "high"}, "color": color}},
        {"mark": "bar", "encoding": {"x": _TIME, "y": {"field": "open", "type": "quantitative"},
                                     "y2": {"field": "close"}, "color": color}},
    ]
    if overlay:
        layers.append({
            "transform": [{"fold": overlay, "as": ["line", "value"]}, {"filter": "isValid(datum.value)"}],
            "mark": {"type": "line", "strokeWidth": 1.2},
            "encoding": {"x": _TIME, "y": {"field": "value", "type": "quantitative"},
                         "color": {"field": "line", "type": "nominal", "legend": {"orient": "top"}},
                         "strokeDash": {"condition": {"test": "datum.line == 'laguerre'", "value": [1, 0]},
                                        "value": [4, 3]}}})
    if fills is not None and len(fills):
        layers.extend(_fill_layers(fills))
    return {"data": {"values": records(data)}, "layer": layers, "resolve": {"scale": {"color": "independent"}},
            "height": height}


def _fill_layers(fills: pd.DataFrame) -> list[dict]:
    marks = _frame(pd.Index(fills["bar_time"]), {"price": fills["price"], "shares": fills["shares"]})
    out = []
    for side, shape, colour in (("buy", "triangle-up", "#1b5e20"), ("sell", "triangle-down", "#b71c1c")):
        rows = marks[(marks["shares"] > 0) == (side == "buy")]
        if len(rows):
            out.append({"data": {"values": records(rows)},
                        "mark": {"type": "point", "shape": shape, "size": 150, "filled": True, "color": colour,
                                 "opacity": 0.95, "stroke": "black", "strokeWidth": 0.5},
                        "encoding": {"x": _TIME, "y": {"field": "price", "type": "quantitative"},
                                     "tooltip": [{"field": "time", "type": "temporal"},
                                                 {"field": "price", "type": "quantitative"},
                                                 {"field": "shares", "type": "quantitative"}]}})
    return out


def series(frame: pd.DataFrame, columns: list[str], title: str = "", height: int = 160) -> dict:
    """Lines of ``columns`` of ``frame`` over its index."""
    data = _frame(frame.index, {c: frame[c] for c in columns})
    return {"data": {"values": records(data)},
            "transform": [{"fold": list(columns), "as": ["line", "value"]}, {"filter": "isValid(datum.value)"}],
            "mark": "line",
            "encoding": {"x": _TIME, "y": {"field": "value", "type": "quantitative", "title": title,
                                           "scale": {"zero": False}},
                         "color": {"field": "line", "type": "nominal", "legend": {"orient": "top"}}},
            "height": height}
