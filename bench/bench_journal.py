"""Journal write cost per fill: what :class:`btedge.live.journal.Journal` adds to every execution.

One "fill" is what the broker writes for an execution of one of its orders: the booking
(``book_execution``: ownership check, execution row, position, the order's filled size) and the
order's state change (``set_state``) in one transaction (``Journal.batch``, as the broker does),
then the commission (``record_commission``, its own message from IB); the WAL checkpoint
(``Journal.maintain``) runs after each fill, untimed, as the store runs it between bars. The order's own write
before it is sent (``add_order``, one committed transaction) is timed too and printed beside. The baseline
is the same bookkeeping in plain Python dicts (no durability), so the ratio is the price of a
crash-safe SQLite WAL journal. Rounds alternate between the two; the script prints each round's
median per fill, the medians over rounds and the ratio journal / dicts, then the p99 of one more
journal round beside the p99 of a pure-CPU loop of the same median (the machine's own noise).

    .venv/bin/python bench/bench_journal.py [--fills 2000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from btedge.live.journal import ExecutionReport, Journal, OrderRecord

ACCOUNT = "DU1234567"


def journal_fills(directory: Path, fills: int, orders: list[float] | None = None) -> list[float]:
    """Seconds per fill with the SQLite journal (a fresh file each round); ``orders`` gets the
    seconds of each order's write."""
    journal = Journal.open(directory, ACCOUNT, f"bench{time.monotonic_ns()}")
    times = []
    try:
        for i in range(fills):
            start = time.perf_counter()
            ref = journal.next_client_ref("btedge")
            journal.add_order(OrderRecord(ref, i + 1, None, 11, ACCOUNT, 756733, "SPY", "SPY:STK", "BUY", 1.0,
                                          "MKT", None, None, None, "Submitted", 0.0, ""))
            if orders is not None:
                orders.append(time.perf_counter() - start)
            report = ExecutionReport(f"e.{i:08x}.01.01", ref, 11, ACCOUNT, i + 1, 756733, 1.0, 100.0 + i % 7,
                                     1_700_000_000.0 + i)
            start = time.perf_counter()
            with journal.batch():
                journal.book_execution(report)
                journal.set_state(ref, "Filled", f"fill {report.exec_id}")
            journal.record_commission(report.exec_id, 1.0)
            times.append(time.perf_counter() - start)
            journal.maintain()  # the checkpoint, as the store runs it between bars (untimed)
    finally:
        journal.close()
    return times


def dict_fills(fills: int) -> list[float]:
    """Seconds per fill for the same bookkeeping in dicts."""
    orders: dict[str, dict] = {}
    executions: dict[str, dict] = {}
    positions: dict[int, list[float]] = {}
    times = []
    for i in range(fills):
        ref = f"btedge:bench:{i}"
        orders[ref] = {"client_id": 11, "account": ACCOUNT, "state": "Submitted", "filled": 0.0}
        exec_id = f"e.{i:08x}.01.01"
        start = time.perf_counter()
        order = orders[ref]
        if order["client_id"] == 11 and order["account"] == ACCOUNT and exec_id.rpartition(".")[0] not in executions:
            executions[exec_id.rpartition(".")[0]] = {"exec_id": exec_id, "shares": 1.0, "price": 100.0}
            position = positions.setdefault(756733, [0.0, 0.0])
            position[1] = (position[0] * position[1] + 100.0) / (position[0] + 1.0)
            position[0] += 1.0
            order["filled"] += 1.0
        order["state"] = "Filled"
        executions[exec_id.rpartition(".")[0]]["commission"] = 1.0
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    journal_medians, dict_medians, order_times = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(1, args.rounds + 1):
            j = statistics.median(journal_fills(Path(tmp), args.fills, order_times))
            d = statistics.median(dict_fills(args.fills))
            journal_medians.append(j)
            dict_medians.append(d)
            print(f"round {round_no}: journal {j * 1e6:8.1f} us/fill   dicts {d * 1e6:6.2f} us/fill")
    j, d = statistics.median(journal_medians), statistics.median(dict_medians)
    all_j = sorted(journal_fills(Path(tempfile.mkdtemp()), args.fills))
    spin = sorted(busy_loop(j, args.fills))
    print(f"median over rounds: journal {j * 1e6:.1f} us/fill, dicts {d * 1e6:.2f} us/fill, "
          f"ratio journal/dicts {j / d:.0f}x")
    print(f"order written before it is sent (add_order): median {statistics.median(order_times) * 1e6:.1f} us, "
          f"p99 {_p99(sorted(order_times)) * 1e6:.0f} us")
    print(f"p99 of one more round: journal {_p99(all_j) * 1e6:.0f} us; a pure-CPU loop of the same median "
          f"{_p99(spin) * 1e6:.0f} us (scheduler noise of this machine)")


def busy_loop(seconds: float, count: int) -> list[float]:
    """Timings of a pure-Python loop calibrated to take ``seconds`` (no I/O): the machine's noise."""
    probe = 100_000
    start = time.perf_counter()
    _spin(probe)
    steps = max(1, round(probe * seconds / (time.perf_counter() - start)))
    times = []
    for _ in range(count):
        start = time.perf_counter()
        _spin(steps)
        times.append(time.perf_counter() - start)
    return times


def _spin(steps: int) -> int:
    total = 0
    for k in range(steps):
        total += k
    return total


def _p99(sorted_times: list[float]) -> float:
    return sorted_times[int(0.99 * (len(sorted_times) - 1))]


if __name__ == "__main__":
    main()
