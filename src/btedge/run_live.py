"""``btedge-live``: run a registered strategy live on Interactive Brokers (paper by default).

Examples::

    btedge-live --strategy laguerre_cross --symbol SPY --bar 1min --port 7497
    btedge-live --strategy laguerre_trend --symbol ES:FUT:CME:202612 --bar 5min \\
        --param gamma=0.7 --max-position 2 --max-daily-loss 1500 --kill-switch ./STOP
    btedge-live --strategy pairs --symbol KO --symbol PEP --bar 5min --run-name kopep
    btedge-live --strategy ensemble --symbol EURUSD:CASH --bar 15min --models ./cache

Strategy names and ``--param`` are the same as ``btedge-backtest``; they, the bar size, the
contracts and the strategy's own checks (e.g. ``pairs`` needs two symbols) are verified before
anything connects. A live (non-DU) account is refused unless ``--live`` is given and confirmed
(prompt, or ``--i-understand-live-trading``). Ctrl-C or SIGTERM stop cleanly anywhere
(``--cancel-on-exit`` also cancels the working orders; without it they are listed).

Exit status (also in ``docs/live_trading.md``):

====  ==============================================================================
0     finished (``--max-bars`` reached, or stopped by SIGTERM)
1     an unexpected error (a bug: printed with its traceback)
2     bad command line or input (one line on stderr)
3     live trading refused (a non-paper account without ``--live``, or the account changed)
4     no connection: the first connect failed, or the connection stayed down past ``--max-outage``
5     IB refused this client for good (error 326: client id in use)
130   interrupted by Ctrl-C
====  ==============================================================================
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import math
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

import backtrader as bt
import pandas as pd

from btedge import cli
from btedge.feeds.frame import FrameData
from btedge.live import LiveTradingRefused, RiskGate, RiskLimits
from btedge.live.config import IBConfig
from btedge.live.parsing import parse_bar, parse_contract
from btedge.live.risk import MaskAccounts
from btedge.live.session import LiveSession, build_session
from btedge.live.store import FatalConnectError
from btedge.strategies import available, parse_params

log = logging.getLogger(__name__)

PROG = "btedge-live"
MODEL_PARAMS = ("cache_dir", "model_dir", "models")
CONFIRM_WORD = "LIVE"
UsageError = cli.UsageError

EXIT_OK = cli.EXIT_OK
EXIT_USAGE = cli.EXIT_USAGE
EXIT_REFUSED = 3
EXIT_NO_CONNECTION = 4
EXIT_CLIENT_REFUSED = 5
EXIT_INTERRUPTED = cli.EXIT_INTERRUPTED
#: Seconds to wait at exit for IB to confirm the cancels before disconnecting.
CANCEL_CONFIRM_SECONDS = 5.0


class Terminated(KeyboardInterrupt):
    """SIGTERM: unwinds like Ctrl-C, exits :data:`EXIT_OK` (a service manager's stop is a clean stop)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Run a btedge strategy live through TWS / IB Gateway: backfill, then one decision per "
            "completed bar, orders journaled and behind risk gates, a status line per bar. Paper accounts "
            "(DU...) only unless --live is given and confirmed."
        ),
        epilog="Strategy names: --list. The strategy class and params are the ones btedge-backtest uses. "
               "Exit status: 0 done, 2 bad input, 3 live trading refused, 4 no connection (or down past "
               "--max-outage), 5 client id refused (326), 130 Ctrl-C.",
    )
    cli.add_common_options(parser)
    what = parser.add_argument_group("what to run")
    what.add_argument("--strategy", help="registered strategy name (see --list)")
    what.add_argument("--symbol", action="append", default=[], metavar="CONTRACT",
                      help="SPY | SPY:STK:ARCA:USD | ES:FUT:CME:202612 | EURUSD:CASH | BTC:CRYPTO:PAXOS; "
                      "repeat for multi-asset strategies (pairs: two, dual_momentum: several)")
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
    conn.add_argument("--timeout", type=float, default=10.0,
                      help="connect / request timeout, seconds; an unanswered request is retried (default: %(default)s)")
    conn.add_argument("--max-outage", type=float, metavar="SECONDS",
                      help="exit with status 4 when the connection stays down this long (default: retry forever)")

    state = parser.add_argument_group("state (the order journal)")
    state.add_argument("--state-dir", type=Path, metavar="DIR",
                       help="where the order journal lives (default: the per-user state dir, see docs/live_journal.md)")
    state.add_argument("--run-name", metavar="NAME",
                       help="journal and resume this run under NAME (default: the strategy name)")

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
    run.add_argument("--cancel-on-exit", action="store_true",
                     help="cancel working orders on Ctrl-C / SIGTERM / exit (default: leave them and list them)")
    run.add_argument("--order-ref", default="btedge", help="orderRef prefix identifying this program's orders")
    run.add_argument("--max-bars", type=int, help="stop after this many live bars (dry runs)")
    return parser


class StatusLine(bt.Analyzer):
    """One line per bar: time, then per feed close and position, then value, open orders, halt state."""

    params = (("write", print), ("max_bars", None))

    def start(self) -> None:
        self.bars = self.live_bars = 0

    def next(self) -> None:
        broker, data = self.strategy.broker, self.strategy.data
        self.bars += 1
        live = data._laststatus == data.LIVE
        self.live_bars += live
        halted = f" HALTED ({broker.risk.halt_reason})" if broker.risk.halted else ""
        feeds = " ".join(f"{d._name} close={d.close[0]:.6g} pos={broker.getposition(d).size:+g}"
                         for d in self.strategy.datas)
        self.p.write(
            f"{data.datetime.datetime(0):%Y-%m-%d %H:%M:%S} {feeds} value={broker.getvalue():.2f} "
            f"open_orders={len(broker.open_orders())} {'live' if live else 'backfill'}{halted}"
        )
        if self.p.max_bars is not None and self.live_bars >= self.p.max_bars:
            self.strategy.env.runstop()

    def get_analysis(self) -> dict[str, int]:
        return {"bars": self.bars, "live_bars": self.live_bars}


# -- checks before anything connects ------------------------------------------------------------
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
    try:
        params = parse_params(cls, args.param)
    except ValueError as exc:
        raise UsageError(f"--param: {exc}") from None
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


def _dry_check(cls: type, params: dict[str, Any], symbols: Sequence[str], bar: str) -> None:
    """Build the strategy on a few synthetic bars, one feed per symbol, so its own checks (number
    of datas, param ranges, model files) fail here and not after connecting."""
    timeframe, compression = parse_bar(bar)
    index = pd.date_range("2000-01-03", periods=2, freq="D")
    frame = pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 0.0}, index=index)
    cerebro = bt.Cerebro(stdstats=False)
    for symbol in symbols:
        cerebro.adddata(FrameData(dataname=frame, timeframe=timeframe, compression=compression), name=symbol)
    cerebro.addstrategy(cls, **params)
    try:
        cerebro.run(runonce=False)
    except (ValueError, TypeError, KeyError, FileNotFoundError) as exc:
        raise UsageError(f"--strategy {cls.registry_name} with {len(symbols)} --symbol: {cli.error_message(exc)}") from None


def check_args(args: argparse.Namespace) -> tuple[type, dict[str, Any], IBConfig]:
    """Everything about the command line that can be checked without IB; returns the strategy
    class, its params and the connection config."""
    if not args.strategy or not args.symbol:
        raise UsageError("--strategy and at least one --symbol are required (see --help)")
    cls, _ = cli.resolve_strategy(args.strategy, args.param)
    params = _strategy_params(args, cls)
    parse_bar(args.bar)
    for symbol in args.symbol:
        parse_contract(symbol)
    if args.max_bars is not None and args.max_bars < 1:
        raise UsageError(f"--max-bars must be >= 1, got {args.max_bars}")
    config = IBConfig(host=args.host, port=args.port, client_id=args.client_id, client=args.client,
                      timeout=args.timeout, max_outage=args.max_outage, state_dir=args.state_dir,
                      run_name=args.run_name or args.strategy)
    _dry_check(cls, params, args.symbol, args.bar)
    return cls, params, config


def build(args: argparse.Namespace, confirmed: bool, write: Callable[[str], None] = print,
          checked: tuple[type, dict[str, Any], IBConfig] | None = None) -> LiveSession:
    """The live session for the arguments (nothing connects until it runs); ``checked``: what
    :func:`check_args` returned for them, if it ran already."""
    cls, params, config = checked or check_args(args)
    timeframe, compression = parse_bar(args.bar)
    limits = RiskLimits(max_position=args.max_position, max_order_size=args.max_order_size,
                        max_daily_loss=args.max_daily_loss, kill_switch=args.kill_switch,
                        reject_cooldown=args.reject_cooldown)
    session = build_session(
        config, args.symbol, cls, params, timeframe=timeframe, compression=compression,
        data_kw={"backfill": args.backfill, "rtbar": args.rtbar},
        broker_kw={"risk": RiskGate(limits), "order_ref": args.order_ref, "live": args.live, "confirmed": confirmed})
    session.cerebro.addanalyzer(StatusLine, write=write, max_bars=args.max_bars, _name="status")
    from btedge.dashboard.tape import BarTape  # bars beside the journal, for btedge-dashboard

    session.cerebro.addanalyzer(BarTape, journal=lambda: session.store.journal, _name="tape")
    session.cerebro.adddatacb(lambda data, status, *a, **k: write(f"{data._name}: {data._getstatusname(status)}"))
    return session


# -- running and stopping -------------------------------------------------------------------------
def run(args: argparse.Namespace, ask: Callable[[str], str] | None = None) -> int:
    if args.list:
        for name, cls in available().items():
            print(f"{name:24s} {cls.__qualname__}")
        return EXIT_OK
    checked = check_args(args)  # before the prompt: a bad command line never asks
    confirmed = _confirm_live(args, ask)
    if args.live and not confirmed:
        raise UsageError("--live was not confirmed: nothing done")
    session = build(args, confirmed, checked=checked)
    code = EXIT_OK
    try:
        session.cerebro.run(runonce=False, preload=False)
    except Terminated:
        print(f"{PROG}: SIGTERM, shutting down", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted, shutting down", file=sys.stderr)
        code = EXIT_INTERRUPTED
    finally:
        _settle_loop(session.store)
        _shutdown(session, args.cancel_on_exit)
    if session.store.refusal is not None:  # a reconnect found a live account: trading halted, session ended
        return _exit_code(session.store.refusal)
    return code


def _stop_on_sigterm() -> Any:
    """SIGTERM (a service manager stopping us) unwinds like Ctrl-C; returns the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated()

    return signal.signal(signal.SIGTERM, terminate)


def _settle_loop(store: Any) -> None:
    """A Ctrl-C (or SIGTERM) that lands inside the client's ``run_until_complete`` just after its
    future completed leaves that run's stop callback scheduled: the next run of the loop (the
    cancels, the disconnect) would end at once with "Event loop stopped before Future completed".
    Every run has unwound by now, so any such callback is stale: cancel it."""
    loop = store.lib.util.getLoop()
    stop = getattr(asyncio.base_events, "_run_until_complete_cb", None)
    for handle in list(getattr(loop, "_ready", ())):
        if getattr(handle, "_callback", None) is stop:
            handle.cancel()
    if hasattr(loop, "_stopping"):
        loop._stopping = False


def _shutdown(session: LiveSession, cancel: bool) -> None:
    """Cancel (if asked and connected) and wait for the confirmations; a second Ctrl-C ends the
    wait. Then disconnect and say what is left working and where the journal is."""
    broker, store = session.broker, session.store
    try:
        if cancel and _working_orders(session):
            if store.connected:
                broker.cancel_all(CANCEL_CONFIRM_SECONDS)
            else:
                print(f"{PROG}: not connected to IB: could not cancel the working orders", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{PROG}: second interrupt: stopped waiting for the cancels", file=sys.stderr)
    finally:
        _settle_loop(store)
        store.stop()
        _report_left(session)


def _working_orders(session: LiveSession) -> list:
    """The journal's working orders (an order interrupted between its send and the broker's
    bookkeeping is there too), else the broker's."""
    journal = session.store.journal
    return journal.working_orders() if journal is not None else session.broker.open_orders()


def _report_left(session: LiveSession) -> None:
    journal = session.store.journal
    if journal is None:
        return
    working = journal.working_orders()
    if working:
        print(f"{PROG}: {len(working)} order(s) left working at IB (check TWS; a restart with the same "
              "--run-name resumes them, --cancel-on-exit cancels them):", file=sys.stderr)
        for record in working:
            print(f"  {record.symbol} {record.side} {record.size - record.filled:g} of {record.size:g} "
                  f"{record.order_type} id={record.order_id} ref={record.client_ref} {record.state}", file=sys.stderr)
    print(f"{PROG}: order journal: {journal.path}", file=sys.stderr)


def _exit_code(exc: BaseException) -> int:
    """The documented exit status and message for the failures a live run can end with."""
    if isinstance(exc, LiveTradingRefused):
        print(f"{PROG}: refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if isinstance(exc, FatalConnectError):
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_CLIENT_REFUSED
    print(f"{PROG}: error: {exc}", file=sys.stderr)
    return EXIT_NO_CONNECTION


def main(argv: Sequence[str] | None = None, ask: Callable[[str], str] | None = None) -> int:
    """Console entry point; returns the exit status (see the module docstring)."""
    args = build_parser().parse_args(argv)
    cli.setup_logging(args.verbose)
    for handler in logging.getLogger().handlers:  # account ids never reach a log in full
        handler.addFilter(MaskAccounts())

    def body() -> int:
        try:
            return run(args, ask)
        except Terminated:  # before the session ran (at the prompt, while checking): nothing to stop
            print(f"{PROG}: SIGTERM, stopped", file=sys.stderr)
            return EXIT_OK
        except (LiveTradingRefused, ConnectionError) as exc:  # OutageExceeded, FatalConnectError too
            return _exit_code(exc)

    previous = _stop_on_sigterm()
    try:
        return cli.run_cli(PROG, body)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(main())
