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


def test_size_and_position_limits(caplog):
    caplog.set_level(logging.INFO)
    gate = RiskGate(RiskLimits(max_position=10, max_order_size=5))
    assert gate.check("SPY", 5, 0) == Decision(True, "within limits")
    assert not gate.check("SPY", 6, 0)
    assert not gate.check("SPY", 5, 6)
    assert gate.check("SPY", -5, 8)  # reducing is always allowed
    assert not gate.check("SPY", -20, 8)  # a flip beyond the limit is not a reduction
    assert not gate.check("SPY", 0, 0)
    assert "DENY" in caplog.text and "ALLOW" in caplog.text


def test_reject_cooldown():
    clock = Clock()
    gate = RiskGate(RiskLimits(reject_cooldown=30), clock=clock)
    gate.record_reject()
    assert "cooling down" in gate.check("SPY", 1, 0).reason
    assert gate.check("SPY", -1, 1)  # exits still go out
    clock.t += 31
    assert gate.check("SPY", 1, 0)


def test_daily_loss_halts_once_and_lifts_next_day():
    clock = Clock()
    gate = RiskGate(RiskLimits(max_daily_loss=100), clock=clock)
    assert gate.update_value(10_000) is False
    assert gate.update_value(9_950) is False
    assert gate.update_value(9_899) is True  # flatten now
    assert gate.update_value(9_800) is False  # only once
    assert gate.halted and not gate.check("SPY", 1, 0)
    assert gate.check("SPY", -1, 1)
    clock.t += 86_400
    assert gate.update_value(9_800) is False
    assert not gate.halted and gate.check("SPY", 1, 0)


def test_kill_switch(tmp_path):
    path = tmp_path / "STOP"
    gate = RiskGate(RiskLimits(kill_switch=path))
    assert gate.check("SPY", 1, 0)
    assert gate.update_value(1.0) is False
    path.touch()
    assert "kill switch" in gate.check("SPY", 1, 0).reason
    assert gate.halted
    assert gate.check("SPY", -1, 1)
    gate2 = RiskGate(RiskLimits(kill_switch=path))
    assert gate2.update_value(1.0) is True


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
