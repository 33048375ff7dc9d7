"""Follow-ups of issue 8: a live account found on a reconnect ends the session cleanly (library
and CLI), and another process reads the journal read-only while the live process writes it."""
from __future__ import annotations

import logging
import subprocess
import sys
import threading

import pytest

from btedge import run_live
from tests.support.live_session import Scripted, keep_root_logging, run_session  # noqa: F401

pytestmark = pytest.mark.usefixtures("time_limit", "keep_root_logging")


def _buy(strat: Scripted) -> None:
    strat.sent(strat.buy(size=1))


def _turn_live(strat: Scripted) -> None:
    strat.p.gw.configure(accounts=("U7654321",))
    strat.p.gw.drop_connections()


def test_case04_a_live_account_after_a_reconnect_ends_the_session_without_a_traceback(fake_gateway, ib_lib,
                                                                                       caplog):
    caplog.set_level(logging.ERROR)
    actions = {0: _buy, 1: _turn_live, 3: _buy}
    strat, store, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=6)  # returns: no raise
    assert store.refusal is not None and "LIVE" in str(store.refusal)
    assert store.closed and strat.live < 4  # the session ended on the reconnect
    assert broker.risk_status()["state"] == "halted"
    assert [m.get("action") for m in fake_gateway.messages("placeOrder")] == ["BUY"]  # nothing after it
    assert "the session ends" in caplog.text and "7654321" not in caplog.text


def test_case04_cli_exits_3_when_a_reconnect_finds_a_live_account(fake_gateway, ib_lib, capsys):
    def fault() -> None:
        fake_gateway.wait_for_subscription("historical", timeout=10.0)
        for _ in range(3):
            fake_gateway.push_bars(1)
            threading.Event().wait(0.05)
        fake_gateway.configure(accounts=("U7654321",))
        fake_gateway.drop_connections()

    thread = threading.Thread(target=fault, daemon=True)
    thread.start()
    args = ["--strategy", "laguerre_cross", "--symbol", "SPY", "--bar", "1h", "--port", str(fake_gateway.port),
            "--client-id", "21", "--backfill", "172800"]
    assert run_live.main(args) == run_live.EXIT_REFUSED
    thread.join(5.0)
    err = capsys.readouterr().err
    assert "refused" in err and "Traceback" not in err and "7654321" not in err


_READER = """
import sqlite3, sys, time
uri = "file:" + sys.argv[1] + "?mode=ro"
seen = 0
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    db = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        db.execute("INSERT INTO meta VALUES ('x', 'y')")
        print("WROTE"); sys.exit(1)
    except sqlite3.OperationalError:
        pass
    n = db.execute("SELECT count(*) FROM executions").fetchone()[0]
    state = db.execute("SELECT count(*) FROM orders WHERE state = 'Filled'").fetchone()[0]
    db.close()
    seen = max(seen, n)
    if state >= 2:
        break
    time.sleep(0.01)
print(seen, state)
"""


def test_another_process_reads_the_journal_read_only_while_live(fake_gateway, ib_lib, tmp_path):
    reader: list[subprocess.Popen] = []

    def start_reader(strat: Scripted) -> None:
        reader.append(subprocess.Popen([sys.executable, "-c", _READER, str(strat.broker.journal.path)],
                                       stdout=subprocess.PIPE, text=True))
        _buy(strat)

    actions = {0: start_reader, 2: _buy}
    strat, _, broker = run_session(fake_gateway, ib_lib, actions=actions, live_bars=6,
                                   config_kw={"state_dir": tmp_path})
    out, _ = reader[0].communicate(timeout=30)
    assert reader[0].returncode == 0, out
    seen, filled = map(int, out.split())
    assert seen == 2 and filled == 2  # both fills, read by another process while the session ran
    assert len(broker.journal.executions()) == 2


def test_daily_loss_day_follows_the_feeds_exchange_time_zone(fake_gateway, ib_lib, tmp_path):
    import datetime as dt
    from zoneinfo import ZoneInfo

    _, _, broker = run_session(fake_gateway, ib_lib, live_bars=2, config_kw={"state_dir": tmp_path})
    assert broker.risk.time_zone == "US/Eastern"  # IB's timeZoneId of SPY's contract details
    today = dt.datetime.now(ZoneInfo("US/Eastern")).date().isoformat()
    assert broker.risk.trading_day() == today and broker.journal.daily_baseline(today) is not None


def _bracket(strat: Scripted) -> None:
    import backtrader as bt

    close = strat.data.close[0]
    strat.sent(*strat.buy_bracket(size=2, exectype=bt.Order.Market, stopprice=round(close * 0.5, 2),
                                  limitprice=round(close * 2.0, 2)))


def test_resumed_bracket_legs_keep_protecting_the_position_after_a_restart(fake_gateway, ib_lib):
    """Process 1 buys 2 with a stop and a take-profit and ends with both legs working. Process 2
    resumes the legs as separate orders (never resent) while IB keeps them one group: the stop
    still works, its fill closes the position once, and IB cancels the take-profit with it."""
    run_session(fake_gateway, ib_lib, actions={0: _bracket}, live_bars=3)
    stop, profit = sorted((o for o in fake_gateway.orders() if o.parent_id), key=lambda o: o.order_type != "STP")
    assert (stop.order_type, stop.status, profit.status) == ("STP", "Submitted", "Submitted")
    sent_before = len(fake_gateway.messages("placeOrder"))

    def stop_triggers(strat: Scripted) -> None:
        record = strat.broker.journal.order(stop.order_ref)
        assert record.state in ("Submitted", "Accepted") and record.parent_ref  # resumed, still a leg
        strat.p.gw.fill(stop.order_id, price=round(stop.aux_price, 2))

    strat, _, broker = run_session(fake_gateway, ib_lib, actions={0: stop_triggers}, live_bars=4)
    by_id = {o.order_id: o for o in fake_gateway.orders()}
    assert by_id[stop.order_id].status == "Filled" and by_id[profit.order_id].status == "Cancelled"
    assert broker.journal.order(stop.order_ref).state == "Filled"
    assert broker.journal.order(profit.order_ref).state == "Cancelled"
    assert len(fake_gateway.messages("placeOrder")) == sent_before  # nothing resent, nothing new
    assert strat.getposition().size == 0 and sum(s for _, s, _ in broker.journal.positions().values()) == 0
    assert sum(p.quantity for p in fake_gateway.positions()) == 0
