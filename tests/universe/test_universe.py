"""Universe selection on the real 100-stock S&P 500 file, scored against GICS sectors."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from btedge.universe import (
    adjusted_rand_vs_sectors,
    dtw_clusters,
    dtw_distance_matrix,
    dtw_series,
    isolation_outliers,
    kmeans_clusters,
    load_closes,
    load_gics,
    main,
    top_volatility,
)
from tests.support.shared import require_shared

STOCKS = ("repos", "daily", "arbitragelab_100stocks_2017-2020.csv.gz")
GICS = ("repos", "daily", "arbitragelab_sp500_constituents_gics.csv")
ASOF = "2019-06-28"


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    return load_closes(require_shared(*STOCKS))


@pytest.fixture(scope="module")
def sectors() -> pd.Series:
    return load_gics(require_shared(*GICS))


def test_kmeans_ari_against_gics(closes: pd.DataFrame, sectors: pd.Series) -> None:
    labels = kmeans_clusters(closes, n_clusters=11, asof=ASOF, seed=0)
    assert len(labels) == 100 and labels.nunique() == 11
    ari, n = adjusted_rand_vs_sectors(labels, sectors)
    assert n == 99  # AIV is not in the constituents table
    assert math.isfinite(ari) and -0.5 < ari < 1.0


def test_dtw_ari_against_gics(closes: pd.DataFrame, sectors: pd.Series) -> None:
    result = dtw_clusters(closes, n_clusters=11, asof=ASOF, lookback=120, dtw_window=5)
    assert result.labels.nunique() == 11
    assert result.linkage.shape == (99, 4)
    ari, _ = adjusted_rand_vs_sectors(result.labels, sectors)
    assert math.isfinite(ari)


def test_dtw_matrix_equals_dtaidistance_pairwise(closes: pd.DataFrame) -> None:
    """Our (C, parallel) matrix equals dtaidistance's pure-Python ``dtw.distance`` pair by pair."""
    from dtaidistance import dtw

    subset = closes[["AAPL", "MSFT", "JPM", "XOM", "AMZN"]] if "XOM" in closes else closes.iloc[:, :5]
    matrix = dtw_distance_matrix(subset, asof=ASOF, lookback=60, dtw_window=4)
    series = dtw_series(subset, asof=ASOF, lookback=60)
    for i, a in enumerate(series.columns):
        assert matrix.iloc[i, i] == 0.0
        for b in series.columns[i + 1:]:
            expected = dtw.distance(series[a].to_numpy(), series[b].to_numpy(), window=4, use_c=False)
            assert matrix.loc[a, b] == pytest.approx(expected, rel=1e-12)
            assert matrix.loc[b, a] == matrix.loc[a, b]
    assert (matrix.to_numpy() > 0).sum() == 20


def _poison_future(closes: pd.DataFrame, asof: str) -> pd.DataFrame:
    poisoned = closes.copy()
    after = poisoned.index > pd.Timestamp(asof)
    rng = np.random.default_rng(1)
    poisoned.loc[after] = poisoned.loc[after] * rng.uniform(0.2, 5.0, size=poisoned.loc[after].shape)
    return poisoned


def test_no_lookahead_truncation_and_altered_future(closes: pd.DataFrame) -> None:
    small = closes.iloc[:, :30]
    truncated = small.loc[:ASOF]
    poisoned = _poison_future(small, ASOF)
    runs = {
        "kmeans": lambda c: kmeans_clusters(c, 5, asof=ASOF, lookback=200),
        "dtw": lambda c: dtw_clusters(c, 5, asof=ASOF, lookback=60, dtw_window=3).labels,
        "topvol": lambda c: top_volatility(c, 5, asof=ASOF),
        "outliers": lambda c: isolation_outliers(c, asof=ASOF, lookback=120),
    }
    for name, run in runs.items():
        full = run(small)
        for other in (truncated, poisoned):
            result = run(other)
            if isinstance(full, pd.DataFrame):
                pd.testing.assert_frame_equal(full, result, obj=name)
            else:
                pd.testing.assert_series_equal(full, result, obj=name)
    # and the future does matter when asof moves past it
    later = top_volatility(small, 5, asof=small.index[-1])
    assert not later.equals(top_volatility(poisoned, 5, asof=small.index[-1]))


def test_topvol_and_outliers_on_long_format_file() -> None:
    path = require_shared("pypi", "daily", "bytetheory_sp500_members_ohlcv_2009-2010.csv.gz")
    closes = load_closes(path)
    assert closes.shape[1] > 400 and isinstance(closes.index, pd.DatetimeIndex)
    top = top_volatility(closes.iloc[:, :60], 10, asof="2010-06-30")
    assert len(top) == 10 and top.is_monotonic_decreasing
    flagged = isolation_outliers(closes.iloc[:, :60], contamination=0.1, asof="2010-06-30", lookback=120)
    assert flagged["outlier"].sum() == 6  # 10 % of 60


def test_bad_input_errors(closes: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="asof"):
        kmeans_clusters(closes, 3, asof="2017-01-10")
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans_clusters(closes.iloc[:, :5], 8, asof=ASOF)
    with pytest.raises(ValueError, match="sorted"):
        top_volatility(closes.iloc[::-1], 3)
    with pytest.raises(ValueError, match="method"):
        dtw_clusters(closes.iloc[:, :5], 2, method="ward")
    with pytest.raises(ValueError, match="in common"):
        adjusted_rand_vs_sectors(pd.Series([0, 1], index=["X1", "X2"]), pd.Series(["a"], index=["Y"]))


@pytest.mark.slow
def test_cli_writes_plots_and_reports_ari(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    data, gics = require_shared(*STOCKS), require_shared(*GICS)
    code = main(["dtw", "--data", str(data), "--gics", str(gics), "--asof", ASOF, "--lookback", "80",
                 "--dtw-window", "3", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "ARI vs GICS sectors:" in out
    for name in ("dtw_dendrogram.png", "dtw_cluster_map.png", "dtw_clusters.csv"):
        assert (tmp_path / name).stat().st_size > 1000
    assert main(["kmeans", "--data", str(tmp_path / "missing.csv")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0


def test_flat_ticker_is_an_outlier_not_an_error() -> None:
    rng = np.random.default_rng(0)
    index = pd.bdate_range("2020-01-01", periods=100)
    closes = pd.DataFrame(np.exp(np.cumsum(rng.normal(0, 0.01, (100, 8)), axis=0)), index=index,
                          columns=list("ABCDEFGH"))
    closes["H"] = 5.0  # never moves: skew, kurtosis and correlation are undefined
    flagged = isolation_outliers(closes, contamination=0.2)
    assert flagged.index[0] == "H" and flagged.loc["H", "outlier"]


BOKEH = ("pypi", "daily", "bokeh_AAPL_GOOG_IBM_MSFT_ohlcv_2000-2013.csv.gz")


def test_statistics_use_each_tickers_own_history(caplog) -> None:  # type: ignore[no-untyped-def]
    """Issue 9 item 8: GOOG lists in 2004 in bokeh's file; its volatility over 2000-2006 is that of
    its own returns from its listing (a back-filled flat start would have lowered it), and FB (not
    listed before 2012) is left out with a warning naming it and why."""
    import logging

    from btedge.universe import return_vol_features

    closes = load_closes(require_shared(*BOKEH))
    with caplog.at_level(logging.WARNING):
        features = return_vol_features(closes, asof="2006-12-29")
    assert "FB" not in features.index and "left out 1 ticker(s) with fewer than 20 prices" in caplog.text
    assert "FB (0)" in caplog.text
    own = np.log(closes["GOOG"].loc[:"2006-12-29"].dropna()).diff().dropna()
    assert features.at["GOOG", "ann_vol"] == pytest.approx(own.std(ddof=1) * math.sqrt(252), rel=1e-12)
    backfilled = np.log(closes["GOOG"].loc[:"2006-12-29"].bfill()).diff().dropna()
    assert backfilled.std(ddof=1) * math.sqrt(252) < 0.8 * features.at["GOOG", "ann_vol"]
    labels = kmeans_clusters(closes, n_clusters=2, asof="2006-12-29", seed=0)
    assert set(labels.index) == {"AAPL", "GOOG", "IBM", "MSFT"}


def test_dtw_leaves_out_tickers_without_every_bar(caplog) -> None:  # type: ignore[no-untyped-def]
    """Item 8: DTW compares whole paths; GOOG (listed 2004-08-19) is left out of a 2004 window, by name."""
    import logging

    closes = load_closes(require_shared(*BOKEH))
    with caplog.at_level(logging.WARNING):
        series = dtw_series(closes, asof="2004-12-31", lookback=120)
    assert list(series.columns) == ["AAPL", "IBM", "MSFT"] and not series.isna().any().any()
    assert "left out 1 ticker(s) without a price on every bar" in caplog.text and "GOOG" in caplog.text


def test_cli_on_an_ohlcv_file_and_a_bad_asof(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Item 17: an OHLCV file of one asset is refused (its columns are not tickers), exit 2;
    --asof notadate names the flag (argparse, exit 2)."""
    sp500 = require_shared("pypi", "daily", "arch_sp500_ohlcv_1999-2018.csv.gz")
    assert main(["kmeans", "--data", str(sp500), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "1 asset(s) (arch_sp500_ohlcv_1999-2018); a universe needs at least 2" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["kmeans", "--data", str(sp500), "--asof", "notadate"])
    assert exc.value.code == 2 and "argument --asof: 'notadate' is not a date" in capsys.readouterr().err
