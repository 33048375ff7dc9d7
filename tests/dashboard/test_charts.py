"""The live page's Vega-Lite specs: valid against the Vega-Lite schema (Altair's), strict JSON,
and holding what the page claims (every bar, the overlays, the fills on their side)."""
from __future__ import annotations

import json

import altair as alt
import pandas as pd

from btedge.dashboard import charts
from btedge.dashboard.overlays import overlays
from btedge.feeds.sample import sample_data


def _bars(n: int = 120) -> pd.DataFrame:
    bars = sample_data().iloc[:n]
    return bars.set_axis(bars.index.tz_localize("UTC"))


def test_candles_spec_is_valid_vega_lite_with_overlays_and_fills():
    bars = _bars()
    lines = overlays(bars)
    fills = pd.DataFrame({"bar_time": bars.index[[30, 60, 90]], "price": [1.0, 2.0, 3.0], "shares": [5.0, -5.0, 2.0]})
    spec = charts.candles(bars, lines, fills, title="SPY")
    alt.LayerChart.from_dict(spec, validate=True)  # raises on a schema error
    json.dumps(spec, allow_nan=False)  # strict JSON: NaN went to null
    rows = spec["data"]["values"]
    assert len(rows) == len(bars) and rows[0]["time"] == bars.index[0].strftime("%Y-%m-%dT%H:%M:%S")
    assert rows[0]["support"] is None and rows[-1]["support"] == float(lines["support"].iloc[-1])
    assert [r["close"] for r in rows] == bars["close"].astype(float).tolist()
    assert spec["layer"][2]["transform"][0]["fold"] == ["support", "resistance", "laguerre"]
    buys, sells = spec["layer"][3]["data"]["values"], spec["layer"][4]["data"]["values"]
    assert [r["price"] for r in buys] == [1.0, 3.0] and [r["price"] for r in sells] == [2.0]
    assert spec["layer"][3]["mark"]["shape"] == "triangle-up" and spec["layer"][4]["mark"]["shape"] == "triangle-down"


def test_series_spec_and_candles_without_extras():
    bars = _bars(60)
    lines = overlays(bars)
    spec = charts.series(lines, ["score", "threshold"], "anomaly")
    alt.Chart.from_dict(spec, validate=True)
    json.dumps(spec, allow_nan=False)
    assert {r["time"] for r in spec["data"]["values"]} == set(bars.index.strftime("%Y-%m-%dT%H:%M:%S"))
    plain = charts.candles(bars)
    alt.LayerChart.from_dict(plain, validate=True)
    assert len(plain["layer"]) == 2  # wicks and bodies only
