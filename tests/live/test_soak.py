"""A short soak (two simulated days, five symbols, a nightly gateway restart, random drops, partial
fills, rejects and two real process restarts: each segment is a child interpreter, each leaving
orders working that fill while no process runs) with both clients: at the end the journal and the
gateway agree on every position, order and execution, and nothing was traded twice.
The full week is ``bench/bench_soak.py``."""
from __future__ import annotations

import pytest

from btedge.testkit.soak import Soak, SoakSpec, run_soak

pytestmark = pytest.mark.slow

SHORT = SoakSpec(days=2, bars_per_day=15, p_trade=0.2, p_drop=0.05, p_reject=0.08, p_partial=0.15, seed=4)


@pytest.mark.parametrize("client", ["ib_insync", "ib_async"])
def test_short_soak_ends_with_journal_and_gateway_agreeing(client, tmp_path):
    report = run_soak(SoakSpec(**{**SHORT.__dict__, "client": client}), tmp_path)
    assert report.mismatches == [], report.line()
    assert report.steps == 2 * 15 + SHORT.quiet_steps
    assert report.restarts == 2 and report.nights == 2
    assert report.processes == 3  # each segment ran in its own interpreter, none in the test's
    assert report.drops >= report.nights and report.reconnects == report.drops
    assert report.orders > 10 and report.fills == report.gateway_fills > 0
    assert report.rejects + report.partials > 0
    assert report.left_working > 0  # orders working while no process ran, booked by the next one


class _HandTrade(Soak):
    """The same run, with shares bought by hand at the gateway just before the comparison."""

    def _compare(self) -> None:
        self.gateway.hold_position(5, 50.0, symbol="AAA")
        super()._compare()


def test_soak_comparison_catches_a_position_the_journal_did_not_make(tmp_path):
    spec = SoakSpec(days=1, bars_per_day=6, restarts=0, p_drop=0.0, p_reject=0.0, p_partial=0.0, seed=2)
    report = _HandTrade(spec, tmp_path).run()
    assert any(m.startswith("AAA: journal position") for m in report.mismatches), report.mismatches
