"""btedge.live.reconcile: verdicts for working journal orders, foreign holdings; no broker."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from btedge.live.journal import ExecutionReport, Journal, OrderRecord
from btedge.live.reconcile import Reconciliation, foreign_holdings, settle_orders

ACCOUNT, CON_ID = "DU1234567", 756733


@pytest.fixture
def journal(tmp_path):
    j = Journal.open(tmp_path, ACCOUNT, "rec")
    yield j
    j.close()


def _order(j: Journal, size: float = 2, client_id: int = 11) -> str:
    ref = j.next_client_ref("btedge")
    j.add_order(OrderRecord(ref, 7, None, client_id, ACCOUNT, CON_ID, "SPY", "SPY:STK", "BUY", size, "LMT",
                            10.0, None, None, "Accepted", 0.0, ""))
    return ref


def _trade(ref: str, status: str, client_id: int = 11, account: str = ACCOUNT):
    return SimpleNamespace(order=SimpleNamespace(orderRef=ref, clientId=client_id, account=account, orderId=7),
                           orderStatus=SimpleNamespace(status=status))


def _view(j: Journal, open_trades=(), completed=()) -> Reconciliation:
    return Reconciliation(j, ACCOUNT, 11, j.process, list(open_trades), list(completed))


def _fill(j: Journal, ref: str, shares: float, exec_id: str = "x.1.01") -> None:
    j.book_execution(ExecutionReport(exec_id, ref, 11, ACCOUNT, 7, CON_ID, shares, 10.0, 1.0))


def test_open_order_is_kept_working(journal):
    ref = _order(journal)
    (verdict,) = settle_orders(_view(journal, open_trades=[_trade(ref, "Submitted")]))
    assert verdict.state == "Accepted" and verdict.trade is not None


def test_open_order_of_another_client_or_account_does_not_count(journal):
    ref = _order(journal)
    trades = [_trade(ref, "Submitted", client_id=99), _trade(ref, "Submitted", account="DU999")]
    (verdict,) = settle_orders(_view(journal, open_trades=trades))
    assert verdict.state == "Lost"


def test_completed_order_settles_against_the_booked_fills(journal):
    cancelled, filled = _order(journal), _order(journal)
    _fill(journal, cancelled, 1)
    _fill(journal, filled, 2, "x.2.01")
    verdicts = settle_orders(_view(journal, completed=[_trade(cancelled, "Cancelled"), _trade(filled, "Filled")]))
    assert [v.state for v in verdicts] == ["Cancelled", "Filled"]


def test_lost_only_when_completed_orders_and_executions_both_lack_it(journal):
    with_fill, without = _order(journal), _order(journal)
    _fill(journal, with_fill, 2)
    verdicts = settle_orders(_view(journal))
    assert [(v.record.client_ref, v.state) for v in verdicts] == [(with_fill, "Filled"), (without, "Lost")]


def test_order_of_another_client_id_is_left_alone(journal, caplog):
    _order(journal, client_id=5)
    assert settle_orders(_view(journal)) == []
    assert "--client-id 5" in caplog.text


def test_foreign_holdings(journal):
    ref = _order(journal)
    _fill(journal, ref, 2)
    contract = SimpleNamespace(conId=CON_ID, symbol="SPY", multiplier="")
    other = SimpleNamespace(conId=1, symbol="QQQ", multiplier="")
    held = [SimpleNamespace(account=ACCOUNT, contract=contract, position=12.0, avgCost=95.0),
            SimpleNamespace(account=ACCOUNT, contract=other, position=3.0, avgCost=50.0),
            SimpleNamespace(account="DU999", contract=other, position=7.0, avgCost=50.0)]
    gaps = {g.symbol: g for g in foreign_holdings(journal, ACCOUNT, held)}
    assert gaps["SPY"].foreign == 10 and gaps["SPY"].avg_price == 95.0
    assert gaps["QQQ"].foreign == 3 and len(gaps) == 2
    same = SimpleNamespace(account=ACCOUNT, contract=contract, position=2.0, avgCost=10.0)
    assert foreign_holdings(journal, ACCOUNT, [same]) == []
