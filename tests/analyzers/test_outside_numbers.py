"""An outside check of the headline numbers through the CLI, on files no other test reads: the
span and bar count against the file itself, periods per year against the sessions the stamps
show, and Sharpe, volatility, total return and drawdown recomputed by quantstats and numpy from
the run's own return file. The JSON must be strict."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from btedge.run_backtest import main
from tests.support.shared import require_shared

pytestmark = pytest.mark.shared


def _strict(text: str) -> dict:
    def refuse(token: str):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def _run(tmp_path, *args: str) -> tuple[dict, pd.DataFrame]:
    out = tmp_path / "run.json"
    assert main([*args, "--json", str(out)]) == 0
    metrics = _strict(out.read_text())
    returns = pd.read_csv(tmp_path / "run.returns.csv", index_col=0, parse_dates=True)
    return metrics, returns


def _check_figures(figures: dict, returns: pd.Series) -> None:
    ppy = figures["periods_per_year"]
    assert figures["bars"] == len(returns)
    assert figures["sharpe"] == pytest.approx(qs.stats.sharpe(returns, periods=ppy), rel=1e-9)
    assert figures["volatility"] == pytest.approx(returns.std(ddof=1) * math.sqrt(ppy), rel=1e-9)
    assert figures["total_return"] == pytest.approx(np.prod(1 + returns.to_numpy()) - 1, rel=1e-9)
    equity = np.cumprod(1 + returns.to_numpy())
    drawdown = 1 - equity / np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    assert figures["max_drawdown"] == pytest.approx(drawdown.max(), rel=1e-9)


def test_daily_pair_column_bkd(tmp_path):
    path = require_shared("repos", "daily", "arbitragelab_BKD-ESC_2009-2012.csv")
    metrics, returns = _run(tmp_path, "--data", str(path), "--symbol", "BKD")
    raw = pd.read_csv(path, encoding="utf-8-sig")
    stamps = pd.to_datetime(raw["Date"], format="%m/%d/%Y")
    strategy = metrics["strategy"]
    assert strategy["bars"] == len(raw)
    assert pd.Timestamp(strategy["first_bar"]) == stamps.min() and pd.Timestamp(strategy["last_bar"]) == stamps.max()
    assert strategy["periods_per_year"] == 252 and strategy["timeframe"] == "1 day"
    _check_figures(strategy, returns["strategy"])
    _check_figures(metrics["buy_and_hold"], returns["buy_and_hold"])


def test_fx_minutes_one_week_sliced_from_the_cli(tmp_path):
    """GBPUSD minutes, --from Monday --to Friday (the week of 2012-02-06): five sessions of
    about 1,440 bars, so about 1,440 x 252 periods a year, and the figures recomputed."""
    path = require_shared("repos", "intraday", "nautilus_fxcm_gbpusd_m1_bid_2012-02.csv.gz")
    metrics, returns = _run(tmp_path, "--data", str(path), "--from", "2012-02-06", "--to", "2012-02-10",
                            "--param", "integer=False")
    strategy = metrics["strategy"]
    raw = pd.read_csv(path, usecols=[0])
    stamps = pd.to_datetime(raw.iloc[:, 0], utc=True).dt.tz_localize(None)
    inside = stamps[(stamps >= "2012-02-06") & (stamps < "2012-02-11")]
    assert strategy["bars"] == len(inside)
    per_day = inside.groupby(inside.dt.normalize()).size()
    assert strategy["periods_per_year"] == pytest.approx(per_day.median() * 252, rel=0.01)
    _check_figures(strategy, returns["strategy"])
