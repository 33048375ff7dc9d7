"""The historical-data pacing scheduler against IB's three rules, on an injected clock."""
from __future__ import annotations

import pytest

from btedge.live.pacing import HistoricalPacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_identical_request_waits_15_seconds(clock):
    pacer = HistoricalPacer(clock)
    key = ("SPY", "2 D", "1 hour")
    assert pacer.wait(key) == 0
    pacer.sent(key)
    clock.now += 2
    assert pacer.wait(key) == pytest.approx(13)
    assert pacer.wait(("SPY", "3 D", "1 hour")) == 0  # a different request may go
    clock.now += 13
    assert pacer.wait(key) == 0


def test_at_most_60_requests_in_ten_minutes(clock):
    pacer = HistoricalPacer(clock, burst_max=10**6)
    for i in range(60):
        assert pacer.wait(i) == 0
        pacer.sent(i)
        clock.now += 1
    assert pacer.wait("next") == pytest.approx(600 - 60)  # the oldest leaves the window then
    clock.now += 540
    assert pacer.wait("next") == 0


def test_burst_for_one_contract_within_two_seconds(clock):
    pacer = HistoricalPacer(clock)
    for i in range(5):
        pacer.sent(("SPY", i), "SPY")
        clock.now += 0.1
    assert pacer.wait(("SPY", 9), "SPY") == pytest.approx(2 - 0.5)
    assert pacer.wait(("QQQ", 0), "QQQ") == 0
    clock.now += 1.5
    assert pacer.wait(("SPY", 9), "SPY") == 0


def test_counts(clock):
    pacer = HistoricalPacer(clock)
    pacer.sent("a")
    pacer.wait("a")
    assert (pacer.sent_count, pacer.deferred_count) == (1, 1)
    with pytest.raises(ValueError, match="window_max"):
        HistoricalPacer(clock, window_max=0)
