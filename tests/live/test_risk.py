"""btedge.live.risk: each gate, the halt and the account guard."""
from __future__ import annotations

import logging
import math

import pytest

from btedge.live.risk import (
    Decision,
    LiveTradingRefused,
    MaskAccounts,
    RiskGate,
    RiskLimits,
    check_accounts,
    is_paper,
    mask_account,
)


class Clock:
    def __init__(self, t: float = 1_780_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_mask_and_paper():
    assert mask_account("DU1234567") == "DU*****67"
    assert "1234567" not in mask_account("U1234567")
    assert mask_account("abc") == "***"
    assert is_paper("DU1234567") and not is_paper("U1234567")


def test_check_accounts(caplog):
    caplog.set_level(logging.INFO)
    check_accounts(["DU1234567"])
    with pytest.raises(LiveTradingRefused, match="--live") as err:
        check_accounts(["U7654321"])
    assert "7654321" not in str(err.value)
    with pytest.raises(LiveTradingRefused):
        check_accounts(["U7654321"], live=True)
    with pytest.raises(LiveTradingRefused, match="no managed account"):
        check_accounts([])
    check_accounts(["U7654321"], live=True, confirmed=True)
    assert "7654321" not in caplog.text and "1234567" not in caplog.text


def test_limits_validate():
    with pytest.raises(ValueError, match="max_position"):
        RiskLimits(max_position=0)
    with pytest.raises(ValueError, match="reject_cooldown"):
        RiskLimits(reject_cooldown=-1)


def test_size_and_position_limits_clip_and_count_working_orders(caplog):
    caplog.set_level(logging.INFO)
    gate = RiskGate(RiskLimits(max_position=10, max_order_size=5))
    assert gate.check("SPY", 5, 0) == Decision(True, "within limits", 5)
    assert gate.check("SPY", 6, 0).size == 5  # clipped to max_order_size
    assert gate.check("SPY", 5, 6).size == 4  # clipped to reach max_position exactly
    assert not gate.check("SPY", 1, 6, working=4)  # working orders count: nothing left
    assert gate.check("SPY", -5, 8).size == -5  # reducing
    assert gate.check("SPY", -20, 8).size == -5  # an exit is size-limited too
    flip = gate.check("SPY", -20, 8, clip=False)  # a reversal is checked as a whole
    assert not flip and "max_position" in flip.reason
    assert not gate.check("SPY", 0, 0)
    assert gate.status()["clipped"] == 3 and gate.status()["refused"] == 3


def test_repeated_refusal_is_one_warning(caplog):
    caplog.set_level(logging.DEBUG, logger="btedge.live.risk")
    gate = RiskGate(RiskLimits(max_position=1))
    for _ in range(5):
        assert not gate.check("SPY", 2, 1)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and gate.status()["refused"] == 5


def test_reject_cooldown_is_reducing_only():
    clock = Clock()
    gate = RiskGate(RiskLimits(reject_cooldown=30), clock=clock)
    gate.record_reject()
    assert gate.state == "reducing"
    assert "reducing only" in gate.check("SPY", 1, 0).reason
    assert gate.check("SPY", -1, 1)  # exits still go out
    clock.t += 31
    assert gate.state == "active" and gate.check("SPY", 1, 0)


class Record:
    """An in-memory stand-in for the journal's risk table."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.baselines: dict[str, float] = {}

    def set_daily_baseline(self, day: str, value: float) -> float:
        return self.baselines.setdefault(day, value)

    def set_risk(self, key: str, value: str) -> None:
        if value:
            self.values[key] = value
        else:
            self.values.pop(key, None)

    def risk_value(self, key: str) -> str:
        return self.values.get(key, "")


def test_daily_loss_halts_once_and_lifts_next_day():
    clock = Clock()
    gate = RiskGate(RiskLimits(max_daily_loss=100), clock=clock)
    assert gate.update_value(10_000) is False
    assert gate.update_value(9_950) is False
    assert gate.update_value(9_899) is True  # flatten now
    assert gate.update_value(9_800) is False  # only once
    assert gate.halted and gate.state == "halted" and gate.flatten_required
    assert not gate.check("SPY", 1, 0) and not gate.check("SPY", -1, 1)  # the broker flattens, not the strategy
    clock.t += 86_400
    assert gate.update_value(9_800) is False
    assert not gate.halted and gate.check("SPY", 1, 0)


def test_daily_loss_baseline_and_halt_survive_a_restart():
    clock, record = Clock(), Record()
    first = RiskGate(RiskLimits(max_daily_loss=1000), clock=clock)
    first.attach(record)
    first.update_value(100_000)
    assert first.update_value(99_200) is False  # lost 800
    second = RiskGate(RiskLimits(max_daily_loss=1000), clock=clock)  # a restart
    second.attach(record)
    assert second.update_value(99_200) is False
    assert second.update_value(98_400) is True  # 1600 since the day's first value
    third = RiskGate(RiskLimits(max_daily_loss=1000), clock=clock)
    third.attach(record)
    assert third.halted and third.flatten_required and third.halt_reason.startswith("daily loss")
    clock.t += 86_400
    third.update_value(98_400)
    assert not third.halted and record.risk_value("halt") == ""


def test_kill_switch_halts_and_resumes_only_by_the_resume_file(tmp_path):
    path = tmp_path / "STOP"
    gate = RiskGate(RiskLimits(kill_switch=path))
    assert gate.check("SPY", 1, 0)
    assert gate.update_value(1.0) is False
    path.touch()
    assert "halted" in gate.check("SPY", 1, 0).reason and "kill-switch" in gate.halt_reason
    assert gate.halted and not gate.check("SPY", -1, 1)
    assert gate.resume() is False  # the file still exists
    path.unlink()
    assert gate.halted  # removing the file alone does not resume
    assert not gate.resume_requested()
    (tmp_path / "STOP.resume").touch()
    assert gate.resume_requested() and gate.resume() and gate.state == "active"
    gate2 = RiskGate(RiskLimits(kill_switch=path))
    path.touch()
    assert gate2.update_value(1.0) is True


def test_split_caps_each_part():
    gate = RiskGate(RiskLimits(max_order_size=2))
    assert gate.split(-5) == [-2, -2, -1]
    assert RiskGate().split(3) == [3]


def test_unlimited_by_default():
    gate = RiskGate()
    assert gate.limits.max_position == math.inf
    assert gate.check("SPY", 1e9, 0)


def test_mask_filter_rewrites_records():
    record = logging.LogRecord("ib_async.wrapper", logging.INFO, __file__, 1,
                               "position: Position(account=%r, position=%d) and U7654321", ("DU1234567", 5), None)
    assert MaskAccounts().filter(record)
    text = record.getMessage()
    assert "DU*****67" in text and "U7****21" in text and "1234567" not in text and "7654321" not in text
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "bar %s close=%.2f", ("SPY", 367.46), None)
    MaskAccounts().filter(plain)
    assert plain.getMessage() == "bar SPY close=367.46" and plain.args == ("SPY", 367.46)


def test_daily_loss_trading_day_is_the_exchange_date_not_the_utc_date():
    """New York evening trading crosses midnight UTC: still the same trading day there."""
    at = Clock(1_735_848_000.0)  # 2025-01-02 20:00 UTC = 15:00 in New York
    record = Record()
    gate = RiskGate(RiskLimits(max_daily_loss=500), clock=at)
    assert gate.set_time_zone("US/Eastern") and gate.time_zone == "US/Eastern"
    gate.attach(record)
    gate.update_value(100_000)
    assert list(record.baselines) == ["2025-01-02"]
    at.t += 5 * 3600  # 01:00 UTC on Jan 3, 20:00 on Jan 2 in New York: the same trading day
    assert gate.trading_day() == "2025-01-02"
    assert gate.update_value(99_400) is True  # 600 below the day's first value
    at.t += 4 * 3600  # 00:00 in New York: a new trading day lifts the daily-loss halt
    gate.update_value(99_400)
    assert not gate.halted and list(record.baselines) == ["2025-01-02", "2025-01-03"]
    utc = RiskGate(RiskLimits(max_daily_loss=500), clock=Clock(1_735_866_000.0))
    assert not utc.set_time_zone("Mars/Olympus") and utc.trading_day() == "2025-01-03"  # unknown: UTC
