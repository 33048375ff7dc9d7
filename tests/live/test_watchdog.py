"""Watchdog decisions on injected clocks: stream stalls, late bars, unacknowledged orders, market hours."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from btedge.live.watchdog import AckWatch, StreamWatch, bar_age_periods, market_open


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_stream_stalls_after_three_silent_periods():
    clock = Clock()
    watch = StreamWatch(60, 3, clock)
    assert watch.stalled() is None  # not armed
    watch.arm()
    clock.now = 170
    assert watch.stalled() is None
    watch.seen()
    clock.now = 170 + 179
    assert watch.stalled() is None
    clock.now = 170 + 180
    assert watch.stalled() == pytest.approx(180)
    assert watch.stalled() is None  # reported once, then disarmed until the resubscription
    assert watch.stalls == 1


def test_bar_age_in_periods():
    assert bar_age_periods(0, 60, 60) == 0  # seen as it completes
    assert bar_age_periods(0, 60, 180) == 2
    assert bar_age_periods(0, 60, 30) < 0


def _trade(order_id: int, status: str) -> SimpleNamespace:
    return SimpleNamespace(order=SimpleNamespace(orderId=order_id), orderStatus=SimpleNamespace(status=status))


def test_ack_watch_reports_each_overdue_order_once():
    clock = Clock()
    watch = AckWatch(10, clock)
    assert watch.check([_trade(1, "PendingSubmit"), _trade(2, "Submitted")]) == []
    clock.now = 9.9
    assert watch.check([_trade(1, "PendingSubmit")]) == []
    clock.now = 10
    overdue = watch.check([_trade(1, "PendingSubmit")])
    assert [t.order.orderId for t in overdue] == [1]
    clock.now = 30
    assert watch.check([_trade(1, "PendingSubmit")]) == []
    assert watch.check([_trade(1, "Submitted")]) == []  # acknowledged: forgotten
    assert watch.overdue_count == 1


def _epoch(text: str, zone: str) -> float:
    from zoneinfo import ZoneInfo

    return dt.datetime.strptime(text, "%Y%m%d %H:%M").replace(tzinfo=ZoneInfo(zone)).timestamp()


@pytest.mark.parametrize("when, expected", [
    ("20250102 10:00", True), ("20250102 09:00", False), ("20250102 16:00", False),
    ("20250103 12:00", False),  # CLOSED
    ("20250106 12:00", True),  # a day the string does not list: assume open (warn rather than miss)
])
def test_market_open_from_ib_hours(when, expected):
    hours = "20250102:0930-20250102:1600;20250103:CLOSED"
    assert market_open(hours, "US/Eastern", _epoch(when, "US/Eastern")) is expected


def test_market_open_without_hours_or_zone():
    assert market_open("", "US/Eastern", 0)
    assert market_open("20250102:0930-20250102:1600", "Nowhere/Unknown", 0)
