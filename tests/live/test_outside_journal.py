"""The journal when IB's record is incomplete: a fill booked from a completed order (IB no longer
reported its executions) is an estimate that real executions, should they come after all,
replace share for share; nothing is counted twice."""
from __future__ import annotations

import pytest

from btedge.live.journal import UNREPORTED_EXEC_PREFIX, ExecutionReport, Journal, OrderRecord

ACCOUNT, CON_ID = "DU1234567", 756733


@pytest.fixture
def journal(tmp_path):
    j = Journal.open(tmp_path, ACCOUNT, "outside")
    yield j
    j.close()


def _order(j: Journal, side: str = "BUY", size: float = 3) -> str:
    ref = j.next_client_ref("btedge")
    j.add_order(OrderRecord(ref, 7, None, 11, ACCOUNT, CON_ID, "SPY", "SPY:STK", side, size, "LMT", 10.0, None, None,
                            "Accepted", 0.0, ""))
    return ref


def _book(j: Journal, ref: str, exec_id: str, shares: float, price: float = 10.0):
    return j.book_execution(ExecutionReport(exec_id, ref, 11, ACCOUNT, 7, CON_ID, shares, price, 1.0))


@pytest.mark.parametrize("side, sign", [("BUY", 1), ("SELL", -1)])
def test_real_executions_replace_the_estimate_share_for_share(journal, side, sign):
    ref = _order(journal, side)
    _book(journal, ref, f"{UNREPORTED_EXEC_PREFIX}1000001.01", sign * 3, 10.0)
    assert journal.position(CON_ID)[0] == sign * 3
    _book(journal, ref, "0000e0d5.000f4241.01.01", sign * 1, 9.0)
    assert journal.position(CON_ID)[0] == sign * 3 and journal.order(ref).filled == 3
    _book(journal, ref, "0000e0d5.000f4241.02.01", sign * 2, 9.5)
    assert journal.position(CON_ID) == (sign * 3, pytest.approx((9.0 + 2 * 9.5) / 3))
    assert [e["exec_id"][:8] for e in journal.executions(ref)] == ["0000e0d5", "0000e0d5"]
    assert journal.order(ref).filled == 3


def test_the_estimate_does_not_move_the_execution_filter(journal):
    ref = _order(journal)
    _book(journal, ref, "0000e0d5.000f4241.01.01", 1, 9.0)
    journal.book_execution(ExecutionReport(f"{UNREPORTED_EXEC_PREFIX}1000001.01", ref, 11, ACCOUNT, 7, CON_ID, 2,
                                           10.0, 5e9))
    assert journal.last_execution_time() == 1.0


def test_a_completed_orders_filled_quantity_is_read_with_care(journal):
    """IB's filledQuantity may be unset (1.8e308) or, on a broken record, above the order's size:
    never more than the order's unfilled size is booked from it."""
    from types import SimpleNamespace

    from btedge.live.reconcile import Reconciliation, settle_orders

    def completed(ref: str, status: str, filled: float):
        return SimpleNamespace(order=SimpleNamespace(orderRef=ref, clientId=0, account=ACCOUNT, orderId=7,
                                                     filledQuantity=filled),
                               orderStatus=SimpleNamespace(status=status))

    unset, above, filled = _order(journal), _order(journal), _order(journal)
    _book(journal, filled, "0000e0d5.000f4241.01.01", 1, 9.0)
    view = Reconciliation(journal, ACCOUNT, 11, journal.process, [],
                          [completed(unset, "Cancelled", 1.7976931348623157e308),
                           completed(above, "Cancelled", 7.0), completed(filled, "Filled", 0.0)])
    verdicts = {v.record.client_ref: v for v in settle_orders(view)}
    assert verdicts[unset].unreported == 0 and verdicts[unset].state == "Cancelled"
    assert verdicts[above].unreported == 3 and verdicts[above].state == "Filled"
    assert verdicts[filled].unreported == 2 and verdicts[filled].state == "Filled"
