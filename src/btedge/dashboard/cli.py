"""``btedge-dashboard``: start the cockpit (Streamlit, headless) and print its URL.

Examples::

    btedge-dashboard --journal ~/.local/state/btedge/laguerre_cross.DU1234567.sqlite
    btedge-dashboard --runs reports/ --panel closes.csv --port 8502
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import socket
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Sequence

from btedge.dashboard.news import YAHOO_RSS
from btedge.dashboard.settings import Settings

PROG = "btedge-dashboard"
APP = Path(__file__).with_name("app.py")


def _version() -> str:
    try:
        return version("btedge")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="The btedge cockpit: a Streamlit dashboard over a live order journal (read-only), "
                    "backtest run folders, a screener and news. Starts headless and prints the URL to open.")
    parser.add_argument("--journal", type=Path, metavar="PATH",
                        help="the live order journal to watch, read-only: <state_dir>/<run_name>.<account>.sqlite "
                             "(btedge-live prints it at exit; default folder ~/.local/state/btedge). The page "
                             "waits for it when it does not exist yet")
    parser.add_argument("--runs", type=Path, metavar="DIR",
                        help="folder of backtest runs: btedge-backtest --json DIR/NAME.json writes NAME.json and "
                             "NAME.returns.csv / NAME.trades.csv there")
    parser.add_argument("--panel", type=Path, metavar="CSV",
                        help="wide close file (one column per ticker) for the screener page")
    parser.add_argument("--advice", type=Path, metavar="JSONL",
                        help="co-pilot advice journal (copilot_journal=...) to list on the live page, read-only")
    parser.add_argument("--port", type=int, default=8501, help="port to serve on; 0 picks a free one (default 8501)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes the journal's "
                             "positions to the network)")
    parser.add_argument("--refresh", type=float, default=2.0, help="seconds between live page refreshes (default 2)")
    parser.add_argument("--watch", type=float, default=0.5,
                        help="seconds between checks for a new journal or tape row, which redraw the live page at "
                             "once (default 0.5; each check is a fragment run: with one page open and no new rows "
                             "the server used 27%% of a core at 0.5 s, 8%% without); 0 redraws only every --refresh "
                             "seconds")
    parser.add_argument("--bars", type=int, default=300, help="bars shown on the live chart (default 300)")
    parser.add_argument("--news-url", default=YAHOO_RSS,
                        help="RSS/Atom URL with {symbol} for headlines (default: Yahoo Finance's per-ticker "
                             "headline feed); '' turns news off")
    parser.add_argument("--news-dir", type=Path, metavar="DIR",
                        help="headline cache folder (default ~/.cache/btedge/news)")
    parser.add_argument("--news-every", type=float, default=300.0,
                        help="seconds between feed fetches (default 300); the page shows the cache meanwhile")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    return parser


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def check(args: argparse.Namespace) -> str | None:
    """One message for a bad option (with the flag that fixes it), or None."""
    if not 0 <= args.port <= 65535:
        return f"--port {args.port}: give 1-65535, or 0 for a free port"
    if args.refresh <= 0:
        return f"--refresh {args.refresh}: give a positive number of seconds"
    if args.watch < 0:
        return f"--watch {args.watch}: give 0 (no watch) or a positive number of seconds"
    if args.journal is not None and args.journal.is_dir():
        return (f"--journal {args.journal}: is a folder; give the .sqlite file in it "
                f"({', '.join(p.name for p in sorted(args.journal.glob('*.sqlite'))[:3]) or 'none there yet'})")
    if args.runs is not None and not args.runs.is_dir():
        return f"--runs {args.runs}: no such folder; give the folder that holds the run JSON files"
    if args.panel is not None and not args.panel.is_file():
        return f"--panel {args.panel}: no such file; give a wide close CSV"
    if args.news_url and "{symbol}" not in args.news_url:
        return f"--news-url {args.news_url}: needs {{symbol}} where the ticker goes, or '' for no news"
    return None


def command(args: argparse.Namespace, port: int) -> list[str]:
    """The ``streamlit run`` command line (through :mod:`btedge.dashboard.serve`, which imports the
    page's modules before the server answers)."""
    return [sys.executable, "-m", "btedge.dashboard.serve", "run", str(APP), "--server.headless", "true",
            "--server.port", str(port), "--server.address", args.host, "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
            "--client.toolbarMode", "viewer"]


def settings(args: argparse.Namespace) -> Settings:
    def text(path: Path | None) -> str:
        return str(path.expanduser().resolve()) if path is not None else ""

    return Settings(journal=text(args.journal), runs=text(args.runs), panel=text(args.panel), advice=text(args.advice),
                    news_url=args.news_url, news_dir=text(args.news_dir), refresh=args.refresh,
                    news_every=args.news_every, bars=args.bars, watch=args.watch)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: 0 after Ctrl-C or SIGTERM, 2 for a bad option, else Streamlit's exit status."""
    args = build_parser().parse_args(argv)
    problem = check(args)
    if problem:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
        return 2
    if importlib.util.find_spec("streamlit") is None:  # (importing it here would cost a second)
        print(f"{PROG}: error: streamlit is not installed; pip install 'btedge[dashboard]'", file=sys.stderr)
        return 2
    port = args.port or free_port(args.host)
    env = {**os.environ, **settings(args).to_env()}
    process = subprocess.Popen(command(args, port), env=env, stdout=subprocess.DEVNULL)
    signal.signal(signal.SIGTERM, _interrupt)  # a stop from a service manager stops Streamlit too
    print(f"{PROG}: http://{args.host}:{port}  (Ctrl-C to stop)", flush=True)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait(10)
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
