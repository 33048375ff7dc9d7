"""``btedge-live``: run a registered strategy live on Interactive Brokers (paper by default).

Examples::

    btedge-live --strategy laguerre_cross --symbol SPY --bar 1min --port 7497
    btedge-live --strategy laguerre_trend --symbol ES:FUT:CME:202612 --bar 5min \\
        --param gamma=0.7 --max-position 2 --max-daily-loss 1500 --kill-switch ./STOP
    btedge-live --strategy ensemble --symbol EURUSD:CASH --bar 15min --models ./cache

Strategy names and ``--param`` are the same as ``btedge-backtest``. A live (non-DU) account is
refused unless ``--live`` is given and confirmed (prompt, or ``--i-understand-live-trading``).
Ctrl-C stops cleanly (``--cancel-on-exit`` also cancels the open orders).
"""
from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import backtrader as bt

from btedge.live import IBBroker, IBData, IBStore, LiveTradingRefused, RiskGate, RiskLimits
from btedge.live.parsing import parse_bar, parse_contract
from btedge.live.risk import MaskAccounts
from btedge.strategies import available, get_strategy, parse_params

log = logging.getLogger(__name__)

MODEL_PARAMS = ("cache_dir", "model_dir", "models")
CONFIRM_WORD = "LIVE"


class UsageError(Exception):
    """A problem with the command line; printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="btedge-live",
        description=(
            "Run a btedge strategy live through TWS / IB Gateway: backfill, then one decision per "
            "completed bar, orders behind risk gates, a status line per bar. Paper accounts (DU...) "
            "only unless --live is given and confirmed."
        ),
        epilog="Strategy names: --list. The strategy class and params are the ones btedge-backtest uses.",
    )
    what = parser.add_argument_group("what to run")
    what.add_argument("--strategy", help="registered strategy name (see --list)")
    what.add_argument("--symbol", action="append", default=[], metavar="CONTRACT",
                      help="SPY | SPY:STK:ARCA:USD | ES:FUT:CME:202612 | EURUSD:CASH | BTC:CRYPTO:PAXOS; "
                      "repeat for multi-asset strategies")
    what.add_argument("--bar", default="1min", help="bar size: 5s, 1min, 5min, 1h, 1d (default: %(default)s)")
    what.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                      help="strategy param, typed like its default; repeatable")
    what.add_argument("--models", type=Path, metavar="DIR",
                      help="trained-model cache of an ML strategy: a btedge-backtest run with the same "
                      "--param values and this cache trains the folds; live scores with the newest one "
                      f"(sets {'/'.join(MODEL_PARAMS)} and pretrained=true)")
    what.add_argument("--backfill", type=float, default=3600.0, help="seconds of history first (default: %(default)s)")
    what.add_argument("--rtbar", action="store_true", help="build bars from 5-second real-time bars")
    what.add_argument("--list", action="store_true", help="list strategy names and exit")

    conn = parser.add_argument_group("connection")
    conn.add_argument("--host", default="127.0.0.1", help="TWS / Gateway host (default: %(default)s)")
    conn.add_argument("--port", type=int, default=7497, help="7497 paper TWS, 4002 paper Gateway (default: %(default)s)")
    conn.add_argument("--client-id", type=int, default=1, help="API client id (default: %(default)s)")
    conn.add_argument("--client", choices=("ib_async", "ib_insync"), help="client library (default: ib_async if installed)")
    conn.add_argument("--timeout", type=float, default=10.0, help="connect/request timeout, seconds (default: %(default)s)")

    risk = parser.add_argument_group("risk (every order passes these gates)")
    risk.add_argument("--max-position", type=float, default=math.inf, help="max |position| in units")
    risk.add_argument("--max-order-size", type=float, default=math.inf, help="max |size| of one order")
    risk.add_argument("--max-daily-loss", type=float, default=math.inf,
                      help="loss from the day's first value that flattens and halts")
    risk.add_argument("--kill-switch", type=Path, metavar="FILE",
                      help="if FILE exists: flatten, and refuse new entries")
    risk.add_argument("--reject-cooldown", type=float, default=60.0,
                      help="seconds without new entries after a reject (default: %(default)s)")
    risk.add_argument("--live", action="store_true", help="allow a live (non-paper) account; asks to confirm")
    risk.add_argument("--i-understand-live-trading", action="store_true",
                      help="confirm --live without the interactive prompt")

    run = parser.add_argument_group("running")
    run.add_argument("--cancel-on-exit", action="store_true", help="cancel open orders on Ctrl-C / exit")
    run.add_argument("--order-ref", default="btedge", help="orderRef prefix identifying this program's orders")
    run.add_argument("--max-bars", type=int, help="stop after this many live bars (dry runs)")
    run.add_argument("-v", "--verbose", action="count", default=0, help="-v info, -vv debug logging")
    return parser


class StatusLine(bt.Analyzer):
    """One line per bar: time, close, position, value, open orders, halt state."""

    params = (("write", print), ("max_bars", None))

    def start(self) -> None:
        self.bars = self.live_bars = 0

    def next(self) -> None:
        broker, data = self.strategy.broker, self.strategy.data
        self.bars += 1
        live = data._laststatus == data.LIVE
        self.live_bars += live
        halted = f" HALTED ({broker.risk.halt_reason})" if broker.risk.halted else ""
        self.p.write(
            f"{data.datetime.datetime(0):%Y-%m-%d %H:%M:%S} {data._name} close={data.close[0]:.6g} "
            f"pos={broker.getposition(data).size:+g} value={broker.getvalue():.2f} "
            f"open_orders={len(broker.open_orders())} {'live' if live else 'backfill'}{halted}"
        )
        if self.p.max_bars is not None and self.live_bars >= self.p.max_bars:
            self.strategy.env.runstop()

    def get_analysis(self) -> dict[str, int]:
        return {"bars": self.bars, "live_bars": self.live_bars}


def _confirm_live(args: argparse.Namespace, ask: Callable[[str], str] | None = None) -> bool:
    if not args.live:
        return False
    if args.i_understand_live_trading:
        return True
    try:
        answer = (ask or input)(f"--live: a live account trades REAL money. Type {CONFIRM_WORD} to go on: ")
    except (EOFError, OSError):  # no terminal: not confirmed
        answer = ""
    return answer.strip() == CONFIRM_WORD


def _strategy_params(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    params = parse_params(cls, args.param)
    if args.models is not None:
        names = [n for n in MODEL_PARAMS if n in cls.params._getkeys()]
        if not names:
            raise UsageError(f"--models: strategy {args.strategy!r} loads no models (no {'/'.join(MODEL_PARAMS)} param)")
        if not args.models.is_dir():
            raise UsageError(f"--models {args.models}: not a directory; train first (btedge-backtest) or fix the path")
        params[names[0]] = str(args.models)
        if "pretrained" in cls.params._getkeys():
            params.setdefault("pretrained", True)  # score with the cached folds; never train live
    return params


def build_cerebro(args: argparse.Namespace, confirmed: bool, write: Callable[[str], None] = print) -> tuple[bt.Cerebro, IBStore]:
    """Cerebro with IBStore / IBData / IBBroker for the parsed arguments."""
    if not args.strategy or not args.symbol:
        raise UsageError("--strategy and at least one --symbol are required (see --help)")
    cls = get_strategy(args.strategy)
    params = _strategy_params(args, cls)
    timeframe, compression = parse_bar(args.bar)
    for symbol in args.symbol:
        parse_contract(symbol)  # fail on a bad contract before connecting
    limits = RiskLimits(max_position=args.max_position, max_order_size=args.max_order_size,
                        max_daily_loss=args.max_daily_loss, kill_switch=args.kill_switch,
                        reject_cooldown=args.reject_cooldown)
    store = IBStore(args.host, args.port, args.client_id, client=args.client, timeout=args.timeout)
    cerebro = bt.Cerebro(stdstats=False, quicknotify=True)
    for symbol in args.symbol:
        cerebro.adddata(IBData(dataname=symbol, name=symbol, store=store, timeframe=timeframe,
                               compression=compression, backfill=args.backfill, rtbar=args.rtbar))
    cerebro.setbroker(IBBroker(store=store, risk=RiskGate(limits), order_ref=args.order_ref,
                               live=args.live, confirmed=confirmed))
    cerebro.addstrategy(cls, **params)
    cerebro.addanalyzer(StatusLine, write=write, max_bars=args.max_bars, _name="status")
    cerebro.adddatacb(lambda data, status, *a, **k: write(f"{data._name}: {data._getstatusname(status)}"))
    return cerebro, store


def run(args: argparse.Namespace, ask: Callable[[str], str] | None = None) -> int:
    if args.list:
        for name, cls in available().items():
            print(f"{name:24s} {cls.__qualname__}")
        return 0
    confirmed = _confirm_live(args, ask)
    if args.live and not confirmed:
        raise UsageError("--live was not confirmed: nothing done")
    cerebro, store = build_cerebro(args, confirmed)
    previous = _stop_on_sigterm()
    try:
        cerebro.run(runonce=False, preload=False)
    except KeyboardInterrupt:
        log.warning("interrupted: shutting down")
        print("btedge-live: interrupted, shutting down", file=sys.stderr)
    finally:
        _shutdown(cerebro, store, args.cancel_on_exit)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _stop_on_sigterm() -> Any:
    """SIGTERM (a service manager stopping us) shuts down like Ctrl-C; returns the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, signal.default_int_handler)


#: Seconds to wait at exit for IB to confirm the cancels before disconnecting.
CANCEL_CONFIRM_SECONDS = 5.0


def _shutdown(cerebro: bt.Cerebro, store: IBStore, cancel: bool) -> None:
    broker = cerebro.getbroker()
    if cancel and store.connected:
        for order in broker.open_orders():
            broker.cancel(order)
        # one pump returns on the next network update, which may be a bar: wait for the
        # confirmations themselves, so nothing is left working when we disconnect
        deadline = time.monotonic() + CANCEL_CONFIRM_SECONDS
        while broker.open_orders() and store.connected and time.monotonic() < deadline:
            store.pump(0.1)
        if broker.open_orders():
            log.warning("%d order(s) not confirmed cancelled within %.0f s; check TWS",
                        len(broker.open_orders()), CANCEL_CONFIRM_SECONDS)
    store.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status (2 bad input, 3 live trading refused)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # account ids never reach a log in full
        handler.addFilter(MaskAccounts())
    try:
        return run(args)
    except LiveTradingRefused as exc:
        print(f"btedge-live: refused: {exc}", file=sys.stderr)
        return 3
    except (UsageError, ValueError, ConnectionError) as exc:
        print(f"btedge-live: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
