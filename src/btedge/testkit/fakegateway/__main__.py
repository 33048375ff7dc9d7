"""Command line: run the fake IB gateway for a dry run.

``python -m btedge.testkit.fakegateway --csv bars.csv --symbol SPY --port 0`` prints the bound port
on the first line of stdout, then serves until Ctrl-C. With ``--interval S`` it pushes the next
scripted bar every ``S`` seconds (with ``--auto-fill``, orders fill against those bars).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from .bars import BarDataError, load_bars, random_walk_bars
from .contracts import SEC_TYPES, instrument_for
from .control import FakeGateway
from .protocol import MAX_SERVER_VERSION, MIN_SERVER_VERSION


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m btedge.testkit.fakegateway",
        description="A loopback fake TWS / IB Gateway speaking the TWS socket protocol (server versions "
                    f"{MIN_SERVER_VERSION}..{MAX_SERVER_VERSION}) to unmodified ib_insync / ib_async clients. "
                    "Serves scripted bars, keeps a paper account and fills orders. Never contacts IB.")
    parser.add_argument("--csv", help="bars to serve: CSV with datetime,open,high,low,close[,volume] "
                                      "(UTC unless the time has an offset); default: a 390-bar random walk")
    parser.add_argument("--symbol", default="SPY", help="IB symbol of the instrument (default SPY; EURUSD for CASH)")
    parser.add_argument("--sec-type", default="STK", choices=SEC_TYPES, help="security type (default STK)")
    parser.add_argument("--expiry", default="", help="futures last trade date YYYYMMDD (FUT only)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default 0)")
    parser.add_argument("--history", type=int, default=None,
                        help="how many scripted bars have already happened at start (default: all)")
    parser.add_argument("--interval", type=float, default=0.0,
                        help="push the next scripted bar every N seconds (default 0: never)")
    parser.add_argument("--auto-fill", action="store_true",
                        help="fill orders against pushed bars (market at next open, limits/stops when touched)")
    parser.add_argument("--server-version", type=int, default=None,
                        help=f"force a server version ({MIN_SERVER_VERSION}..{MAX_SERVER_VERSION}); default negotiates")
    parser.add_argument("--account", default="DU1234567", help="paper account id to announce (default DU1234567)")
    parser.add_argument("--cash", type=float, default=1_000_000.0, help="starting cash (default 1,000,000)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request (to stderr)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.server_version is not None and not MIN_SERVER_VERSION <= args.server_version <= MAX_SERVER_VERSION:
        print(f"--server-version {args.server_version}: expected {MIN_SERVER_VERSION}..{MAX_SERVER_VERSION}",
              file=sys.stderr)
        return 2
    if args.sec_type == "FUT" and not args.expiry:
        print("error: --expiry YYYYMMDD is required with --sec-type FUT", file=sys.stderr)
        return 2
    try:
        bars = load_bars(args.csv) if args.csv else random_walk_bars(390)
        extra = {"last_trade_date": args.expiry} if args.sec_type == "FUT" else {}
        instrument = instrument_for(args.symbol, args.sec_type, **extra)
    except (BarDataError, ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    gateway = FakeGateway(bars=bars, instrument=instrument, history=args.history, host=args.host,
                          port=args.port, server_version=args.server_version, accounts=(args.account,),
                          cash=args.cash, auto_fill=args.auto_fill)
    gateway.start()
    try:  # the port line first: a client may Ctrl-C us the moment it has read it
        print(gateway.port, flush=True)
        while True:
            time.sleep(args.interval or 3600)
            if args.interval and not gateway.push_bars(1):
                logging.getLogger(__name__).info("all scripted bars pushed; still serving (Ctrl-C to stop)")
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
