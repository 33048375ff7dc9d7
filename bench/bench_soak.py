"""The full soak: a simulated trading week of the live stack on the fake gateway, per client library.

Five symbols of 5-minute bars, 78 bars a day for five days (the gateway's clock accelerated:
a bar is pushed as soon as the strategy has decided), a gateway restart every night (refused
connections, a dropped socket, ``nextValidId`` rolled back after the first), random drops,
partial fills and rejects, and two process restarts on the same run name (each segment of the
strategy is a child interpreter, ``python -m btedge.testkit.soak --phase N``, that reopens the
journal; the gateway keeps running in this process). Prints the counts
(orders, fills, drops, reconnects, restarts, mismatches) per client and seed; every mismatch is
listed, and the exit status is 1 if there was any. This is a correctness soak, not a timing
benchmark: the wall time is printed for scale only. See :mod:`btedge.testkit.soak`.

    .venv/bin/python bench/bench_soak.py [--days 5] [--bars-per-day 78] [--seeds 1 2] [--client ib_async]
"""
from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from btedge.testkit.soak import SoakSpec, run_soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--bars-per-day", type=int, default=78)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--client", choices=("ib_async", "ib_insync"), action="append")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the live stack's warnings")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL,
                        format="%(levelname)s %(name)s: %(message)s")
    failed = False
    for client in args.client or ["ib_async", "ib_insync"]:
        for seed in args.seeds:
            spec = SoakSpec(days=args.days, bars_per_day=args.bars_per_day, client=client, seed=seed)
            with tempfile.TemporaryDirectory() as state:
                report = run_soak(spec, Path(state))
            print(f"{client} seed {seed}: {report.line()}", flush=True)
            for mismatch in report.mismatches:
                print(f"  MISMATCH {mismatch}")
            failed |= bool(report.mismatches)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
