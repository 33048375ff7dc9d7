"""``python -m btedge.copilot``: the rules advisor as a gate on real data, after costs (markdown).

    python -m btedge.copilot [--data-root ../shared/data] [--commission 0.0005] [--slippage 0.0001]
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from btedge.copilot.evaluate import evaluate


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m btedge.copilot", description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"), help="the shared data folder")
    parser.add_argument("--commission", type=float, default=0.0005, help="per side (default 5 bps)")
    parser.add_argument("--slippage", type=float, default=0.0001, help="per side (default 1 bp)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    if not args.data_root.is_dir():
        print(f"--data-root {args.data_root}: no such folder; give the shared data folder", file=sys.stderr)
        return 2
    print("\n".join(evaluate(args.data_root, args.commission, args.slippage)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
