"""btedge.live.orders: legal transitions only; settling from the facts."""
from __future__ import annotations

import pytest

from btedge.live import orders as s


@pytest.mark.parametrize("old,new", [
    ("Submitted", "Accepted"), ("Submitted", "Filled"), ("Accepted", "Partial"), ("Partial", "Partial"),
    ("Partial", "Filled"), ("Accepted", "Cancelled"), ("Submitted", "Rejected"), ("Partial", "Lost"),
])
def test_legal_moves(old, new):
    step = s.transition(old, new)
    assert step.legal and step.state == new


@pytest.mark.parametrize("old,new", [
    ("Filled", "Partial"),  # a late correction must not reopen a filled order
    ("Cancelled", "Accepted"),  # a stale status
    ("Filled", "Cancelled"), ("Rejected", "Filled"), ("Accepted", "Submitted"), ("Lost", "Lost"),
])
def test_illegal_moves_keep_the_old_state(old, new):
    step = s.transition(old, new)
    assert not step.legal and step.state == old and not step.changed


def test_unknown_state_is_an_error():
    with pytest.raises(ValueError, match="unknown order state 'Done'"):
        s.transition("Submitted", "Done")


def test_after_fill_and_settle():
    assert s.after_fill(1, 2) == "Partial" and s.after_fill(2, 2) == "Filled"
    assert s.settle("Cancelled", 5, 5, "Cancelled") == "Filled"  # the cancel lost the race
    assert s.settle("Accepted", 2, 5, "Cancelled") == "Cancelled"
    assert s.settle("Accepted", 2, 5, None) == "Partial"
    assert s.settle("Submitted", 0, 5, None) == "Submitted"
    assert s.settle("Filled", 1, 5, None) == "Filled"
