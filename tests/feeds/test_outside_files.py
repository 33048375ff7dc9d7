"""An outside audit of loading and annualisation on real files and slices the feed tests do not
use: a number the user cannot trust must at least say so."""
from __future__ import annotations

import logging

import pandas as pd
import pytest

from btedge.feeds import load_csv
from btedge.feeds.timestamps import BarSpacing, infer_spacing
from btedge.run_backtest import build_parser
from tests.support.shared import require_shared

pytestmark = pytest.mark.shared


def _stamps(*parts: str) -> pd.DatetimeIndex:
    raw = pd.read_csv(require_shared(*parts), usecols=[0])
    return pd.DatetimeIndex(pd.to_datetime(raw.iloc[:, 0], utc=True)).tz_localize(None)


def _warned_about_annualisation(caplog: pytest.LogCaptureFixture, spacing: BarSpacing) -> bool:
    """Warned now, or earlier in this process (a series' doubts are logged once, and kept on it)."""
    return bool(spacing.doubts) or any(r.levelno >= logging.WARNING and "periods" in r.getMessage().lower() for r in caplog.records)


def test_five_weekday_sessions_of_24_7_crypto_are_annualised_as_crypto_or_flagged(caplog):
    """BTC-perp 1-minute bars from Monday 2022-01-03 to Friday 2022-01-07: five whole sessions,
    the length issue 9 promises to be within 10% of the whole file (525,600). A weekday slice of
    a 24/7 market cannot be told from FX by its stamps alone, so a WARNING naming the ambiguity
    (and --periods-per-year) would also do; a silent -31% (Sharpe x0.83) would not."""
    index = _stamps("repos", "intraday", "nautilus_btc-perp_1m_20211231-20220201.csv.gz")
    whole = infer_spacing(index).periods_per_year
    assert whole == 525_600
    week = index[(index >= "2022-01-03") & (index < "2022-01-08")]
    with caplog.at_level(logging.WARNING):
        part = infer_spacing(week)
    assert part.sessions == 5
    assert part.periods_per_year == pytest.approx(whole, rel=0.10) or _warned_about_annualisation(caplog, part)


def test_part_of_one_session_is_not_taken_for_a_whole_session(caplog):
    """`--from '2012-02-02 10:00' --to '2012-02-02 12:00'` on the GBPUSD minute file: 121 bars of a
    24-hour market. The whole file gives about 1,435 bars a session; the slice must not claim 121
    (Sharpe understated sqrt(12) = 3.5x) without a WARNING that it cannot tell."""
    index = _stamps("repos", "intraday", "nautilus_fxcm_gbpusd_m1_bid_2012-02.csv.gz")
    whole = infer_spacing(index).periods_per_year
    part_index = index[(index >= "2012-02-02 10:00") & (index <= "2012-02-02 12:00")]
    assert len(part_index) == 121
    with caplog.at_level(logging.WARNING):
        part = infer_spacing(part_index)
    assert part.periods_per_year == pytest.approx(whole, rel=0.10) or _warned_about_annualisation(caplog, part)


def test_an_adj_close_column_is_either_usable_from_the_cli_or_reported(caplog):
    """nvda-1999-2014.txt has Close and Adj Close; the backtest uses Close (no dividends) and says
    nothing. Either the CLI offers the adjustment the loader has, or loading says the column is
    not used."""
    path = require_shared("repos", "backtrader", "nvda-1999-2014.txt")
    with caplog.at_level(logging.INFO):
        frame = load_csv(path)
    assert frame["close"].iloc[-1] == pytest.approx(20.049999)  # Close, not Adj Close 19.425875
    reported = [r.getMessage() for r in caplog.records if "Adj Close" in r.getMessage()]
    cli_flag = any("--adjust" in action.option_strings for action in build_parser()._actions)
    assert cli_flag and len(reported) == 1 and "not used" in reported[0] and "--adjust" in reported[0]


def test_a_file_without_prices_is_not_answered_with_text_columns_as_closes(capsys):
    """Every column a 'Fix: pass --symbol ...' proposes must hold numbers: the user will try them."""
    import re

    from btedge.run_backtest import main

    path = require_shared("repos", "daily", "arbitragelab_sp500_constituents_gics.csv")
    assert main(["--data", str(path)]) == 2
    message = capsys.readouterr().err
    proposed = re.findall(r"'([^']+)'", message.split("Fix:", 1)[1]) if "Fix:" in message else []
    table = pd.read_csv(path)
    text_columns = [c for c in proposed if c in table and pd.to_numeric(table[c], errors="coerce").notna().mean() < 0.9]
    assert not text_columns, f"proposed as closes: {text_columns}\n{message}"


@pytest.mark.parametrize("source, keep", [
    (("repos", "intraday", "nautilus_btc-perp_1m_20211231-20220201.csv.gz"), 3000),  # cut after the head
    (("repos", "intraday", "nautilus_btc-perp_1m_20211231-20220201.csv.gz"), 300),  # cut inside the head
    (("pypi", "daily", "skfolio_factor_etfs_2014-2022.csv.gz"), 3000),  # a wide close panel
    (("pypi", "daily", "skfolio_factor_etfs_2014-2022.csv.gz"), -1),  # whole, one byte of its CRC changed
])
def test_a_truncated_gzip_file_is_one_clear_error(source, keep, tmp_path, capsys):
    """What an interrupted download leaves (the first bytes of a shared .csv.gz), or a damaged
    copy: one error line naming the file, that it is truncated or corrupt, and the fix; exit
    status 2, no traceback (it was gzip's raw EOFError)."""
    from btedge.run_backtest import main

    data = require_shared(*source).read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[:keep] if keep > 0 else data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:])
    argv = ["--data", str(cut)] + (["--symbol", "MTUM"] if "skfolio" in source[-1] else [])
    try:
        status = main(argv)
    except EOFError as exc:
        pytest.fail(f"traceback: EOFError {exc}")
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert f"{cut}: the gzip file is truncated or corrupt" in err
    assert "Fix: download or copy the file again" in err
