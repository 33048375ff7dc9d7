"""The evaluation's random control gate approves a side at the requested rate, deterministically."""
from __future__ import annotations

from btedge.copilot.evaluate import RandomAdvisor
from btedge.copilot.snapshot import frame_snapshot
from btedge.feeds import sample_data


def test_random_control_rate_and_determinism():
    bars = sample_data().iloc[:700]
    snapshots = [frame_snapshot(bars.iloc[: 100 + i], "BTC", 60) for i in range(0, 600, 3)]
    advisor = RandomAdvisor(0.4)  # long with 0.2, short with 0.2
    stances = [advisor.advise(s).stance for s in snapshots]
    assert stances == [advisor.advise(s).stance for s in snapshots]
    share_long = stances.count("long") / len(stances)
    assert 0.1 < share_long < 0.3 and 0.1 < stances.count("short") / len(stances) < 0.3
