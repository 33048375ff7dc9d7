"""IBStore + IBData against the fake gateway, with both client libraries."""
from __future__ import annotations

import logging

import pandas as pd
import pytest

from btedge.live import IBStore
from btedge.live.config import IBConfig
from tests.support.live_session import (
    HISTORY,
    Scripted,
    live_config,
    run_session,
)

pytestmark = pytest.mark.usefixtures("time_limit")


def expected_times(df: pd.DataFrame, upto: int) -> list[pd.Timestamp]:
    return [pd.Timestamp(t) for t in df.index[:upto]]  # the sample is naive UTC


def test_connect_backfill_then_live(fake_gateway, ib_lib, gateway_bars):
    strat, store, _ = run_session(fake_gateway, ib_lib, live_bars=4)
    assert strat.statuses[:3] == ["CONNECTED", "DELAYED", "LIVE"]
    times = [b[0] for b in strat.bars]
    assert times == expected_times(gateway_bars, len(times))  # in order, none missing or repeated
    assert len(times) == HISTORY + 4
    assert [b[2] for b in strat.bars].count("LIVE") == 4
    closes = [b[1] for b in strat.bars]
    assert closes == pytest.approx(gateway_bars["close"].iloc[:len(closes)].tolist())
    hist = fake_gateway.messages("reqHistoricalData")
    assert len(hist) == 1 and hist[0].get("formatDate") == "2" and hist[0].flag("keepUpToDate")
    assert store.closed


def test_pacing_error_162_is_retried(fake_gateway, ib_lib, gateway_bars, caplog):
    fake_gateway.fail_next("historical", 162)
    caplog.set_level(logging.WARNING, logger="btedge.live.data")
    strat, _, _ = run_session(fake_gateway, ib_lib, live_bars=2, data_kw={"pacing_wait": 0.05})
    assert "NOTSUBSCRIBED" in strat.statuses and strat.statuses[-1] == "LIVE"
    assert len(fake_gateway.messages("reqHistoricalData")) == 2
    assert "error 162" in caplog.text
    assert [b[0] for b in strat.bars] == expected_times(gateway_bars, HISTORY + 2)


def _drop(strat: Scripted) -> None:
    strat.p.gw.drop_connections()


def test_socket_drop_reconnects_resubscribes_no_gap_no_duplicate(fake_gateway, ib_lib, gateway_bars):
    strat, store, _ = run_session(fake_gateway, ib_lib, actions={1: _drop}, live_bars=5)
    assert store.reconnects == 1
    assert "CONNBROKEN" in strat.statuses
    assert strat.statuses[strat.statuses.index("CONNBROKEN"):] == ["CONNBROKEN", "CONNECTED", "DELAYED", "LIVE"]
    times = [b[0] for b in strat.bars]
    assert times == expected_times(gateway_bars, len(times))
    assert len(fake_gateway.messages("reqHistoricalData")) == 2


def _lose_then_keep(strat: Scripted) -> None:
    strat.p.gw.inject_error(1100)
    strat.p.gw.inject_error(1102)


def test_error_1100_then_1102_keeps_the_socket_and_sends_nothing_new(fake_gateway, ib_lib, gateway_bars):
    strat, store, _ = run_session(fake_gateway, ib_lib, actions={0: _lose_then_keep}, live_bars=3)
    assert store.reconnects == 0
    assert len(fake_gateway.messages("reqHistoricalData")) == 1
    assert "CONNBROKEN" in strat.statuses and strat.statuses[-1] == "LIVE"
    times = [b[0] for b in strat.bars]
    assert times == expected_times(gateway_bars, len(times))


def _refuse_then_drop(strat: Scripted) -> None:
    strat.p.gw.refuse_connections(0.4)
    strat.p.gw.drop_connections()


def test_reconnect_backs_off_while_refused(fake_gateway, ib_lib, gateway_bars, caplog):
    caplog.set_level(logging.WARNING, logger="btedge.live.store")
    strat, store, _ = run_session(fake_gateway, ib_lib, actions={0: _refuse_then_drop}, live_bars=3)
    assert store.reconnects == 1
    assert "connect attempt" in caplog.text
    assert [b[0] for b in strat.bars] == expected_times(gateway_bars, len(strat.bars))


def test_bad_contract_is_one_clear_error(fake_gateway, ib_lib):
    store = IBStore(live_config(fake_gateway, ib_lib, client_id=12))
    store.connect()
    try:
        with pytest.raises(ValueError, match="no unique contract for 'NOPE'"):
            store.qualify("NOPE")
    finally:
        store.stop()


def test_one_connection_per_client_id(fake_gateway, ib_lib):
    config = live_config(fake_gateway, ib_lib, client_id=13)
    first = IBStore(config)
    first.connect()
    try:
        with pytest.raises(ValueError, match="share one store"):
            IBStore(config).connect()
    finally:
        first.stop()
    again = IBStore(config)
    again.connect()  # free again once the first store stopped
    again.stop()


@pytest.mark.parametrize("bad, message", [
    ({"port": 0}, "--port"), ({"backoff": 5, "backoff_max": 1}, "backoff"),
    ({"max_outage": 0}, "--max-outage"), ({"run_name": "a/b"}, "--run-name"), ({"timeout": 0}, "--timeout"),
])
def test_config_validates(bad, message):
    with pytest.raises(ValueError, match=message):
        IBConfig(**bad)


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        IBConfig().port = 1  # type: ignore[misc]


def test_journal_gets_the_last_bar_and_heartbeats(fake_gateway, ib_lib, tmp_path):
    strat, store, broker = run_session(fake_gateway, ib_lib, live_bars=3, config_kw={"state_dir": tmp_path,
                                                                                    "run_name": "beats"})
    last = broker.journal.last_bar("SPY")
    assert last is not None and last.replace(tzinfo=None) == strat.bars[-1][0].to_pydatetime()
    beat = broker.journal.last_heartbeat()
    assert beat is not None and beat[1] in ("CONNECTED", "LIVE")
    assert broker.journal.path.parent == tmp_path and "beats" in broker.journal.path.name
