"""btedge-live: arguments, the paper/live guard, a short session and Ctrl-C against the fake."""
from __future__ import annotations

import _thread
import argparse
import threading
import time
from typing import Any

import backtrader as bt
import pandas as pd
import pytest

from btedge import run_live
from tests.support.live_session import HISTORY, keep_root_logging, sample_bars  # noqa: F401

pytestmark = pytest.mark.usefixtures("time_limit", "keep_root_logging")


@pytest.fixture
def gateway_bars() -> pd.DataFrame:
    return sample_bars(120)


@pytest.fixture
def gateway_options() -> dict[str, Any]:
    return {"history": HISTORY, "auto_fill": True}


def _args(port: int, *extra: str) -> list[str]:
    return ["--strategy", "laguerre_cross", "--symbol", "SPY", "--bar", "1h", "--port", str(port),
            "--client-id", "21", "--backfill", "172800", *extra]


class Pusher:
    """Pushes a gateway bar every ``every`` seconds from a thread (the CLI owns the main loop)."""

    def __init__(self, gw: Any, every: float = 0.03) -> None:
        self.gw, self.every = gw, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.gw.wait_for_subscription("historical", timeout=10.0)
        except TimeoutError:
            return
        while not self._stop.wait(self.every):
            if not self.gw.push_bars(1):
                return

    def __enter__(self) -> "Pusher":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2.0)


def test_help_explains(capsys):
    with pytest.raises(SystemExit) as done:
        run_live.main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for words in ("--strategy", "--symbol", "--bar", "--client-id", "--live", "--i-understand-live-trading",
                  "--max-daily-loss", "--kill-switch", "--cancel-on-exit", "Paper accounts"):
        assert words in out


def test_list(capsys):
    assert run_live.main(["--list"]) == 0
    assert "laguerre_cross" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--symbol", "SPY"], "--strategy and at least one --symbol"),
        (["--strategy", "nope", "--symbol", "SPY"], "unknown strategy 'nope'"),
        (["--strategy", "laguerre_cross", "--symbol", "SPY", "--param", "bogus=1"], "unknown param 'bogus'"),
        (["--strategy", "laguerre_cross", "--symbol", "SPY", "--bar", "7min"], "not an IB bar size"),
        (["--strategy", "laguerre_cross", "--symbol", "ES:FUT"], "contract 'ES:FUT' not understood"),
        (["--strategy", "laguerre_cross", "--symbol", "SPY", "--models", "."], "loads no models"),
    ],
)
def test_bad_arguments_are_one_clear_error(argv, message, capsys):
    assert run_live.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_models_dir_goes_to_the_strategy_param(tmp_path):
    class Trained(bt.Strategy):
        params = (("cache_dir", ""), ("threshold", 0.5))

    args = argparse.Namespace(param=["threshold=0.6"], models=tmp_path, strategy="trained")
    assert run_live._strategy_params(args, Trained) == {"threshold": 0.6, "cache_dir": str(tmp_path)}
    args.models = tmp_path / "missing"
    with pytest.raises(run_live.UsageError, match="not a directory"):
        run_live._strategy_params(args, Trained)


def test_live_flag_needs_confirmation(monkeypatch, capsys):
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    assert run_live.main(["--strategy", "laguerre_cross", "--symbol", "SPY", "--live"]) == 2
    assert "not confirmed" in capsys.readouterr().err


def test_live_account_refused_without_live_flag(fake_gateway, ib_lib, capsys):
    fake_gateway.configure(accounts=("U7654321",))
    assert run_live.main(_args(fake_gateway.port)) == 3
    err = capsys.readouterr().err
    assert "refused" in err and "7654321" not in err
    assert fake_gateway.messages("placeOrder") == []


def test_session_prints_a_status_line_per_bar(fake_gateway, ib_lib, capsys):
    with Pusher(fake_gateway):
        assert run_live.main(_args(fake_gateway.port, "--max-bars", "4", "--param", "direction=both")) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if " close=" in line]
    assert sum(line.endswith(" backfill") for line in lines) >= HISTORY
    assert sum(" live" in line for line in lines) == 4
    assert "SPY: LIVE" in out
    assert fake_gateway.messages("placeOrder"), "direction=both must trade on its first live bar"


def test_ctrl_c_cancels_open_orders_when_asked(fake_gateway, ib_lib, capsys):
    fake_gateway.configure(auto_fill=False)

    def interrupt_once_an_order_is_working() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any(o.status == "Submitted" for o in fake_gateway.orders()):
                _thread.interrupt_main()
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=interrupt_once_an_order_is_working, daemon=True)
    watcher.start()
    with Pusher(fake_gateway, every=0.05):
        code = run_live.main(_args(fake_gateway.port, "--param", "direction=both", "--cancel-on-exit"))
    watcher.join(1.0)
    assert code == run_live.EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err
    statuses = [o.status for o in fake_gateway.orders()]
    assert statuses and all(s == "Cancelled" for s in statuses)


def test_kill_switch_flag_reaches_the_gate(fake_gateway, ib_lib, tmp_path, capsys):
    switch = tmp_path / "STOP"
    switch.touch()
    with Pusher(fake_gateway):
        assert run_live.main(_args(fake_gateway.port, "--max-bars", "3", "--param", "direction=both",
                                   "--kill-switch", str(switch))) == 0
    assert "HALTED" in capsys.readouterr().out
    assert fake_gateway.messages("placeOrder") == []


ML_PARAMS = ["train_bars=60", "retrain_every=40", "epochs=1", "seq_len=8", "hidden=4", "min_samples=30"]


def test_models_dir_without_trained_folds_is_one_clear_error(fake_gateway, ib_lib, tmp_path, capsys):
    argv = _args(fake_gateway.port, "--models", str(tmp_path), *[a for p in ML_PARAMS for a in ("--param", p)])
    argv[argv.index("laguerre_cross")] = "lagnet_forecast"
    assert run_live.main(argv) == 2
    err = capsys.readouterr().err
    assert "no trained fold" in err and "Traceback" not in err


@pytest.mark.slow
def test_ml_strategy_runs_live_on_models_a_backtest_trained(ib_lib, tmp_path, capsys):
    """Train on the first 200 sample bars in a backtest, then trade the next bars live on the cached
    folds: the CLI sets cache_dir and pretrained, and nothing is trained live."""
    from btedge.feeds.frame import FrameData
    from btedge.strategies import get_strategy, parse_params
    from btedge.testkit.fakegateway import FakeGateway

    models = tmp_path / "models"
    models.mkdir()
    bars = sample_bars(320)
    cls = get_strategy("lagnet_forecast")
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(FrameData(dataname=bars.iloc[:200], timeframe=bt.TimeFrame.Minutes, compression=60), name="SPY")
    cerebro.addstrategy(cls, cache_dir=str(models), **parse_params(cls, ML_PARAMS))
    cerebro.run()  # trains and caches the folds
    trained = sorted(p.name for p in models.iterdir())
    assert len(trained) >= 2 and any(name.startswith("manifest-") for name in trained)

    with FakeGateway(bars=bars.iloc[200:], symbol="SPY", history=HISTORY, auto_fill=True) as gw:
        argv = _args(gw.port, "--models", str(models), "--max-bars", "3",
                     *[a for p in ML_PARAMS for a in ("--param", p)])
        argv[argv.index("laguerre_cross")] = "lagnet_forecast"
        with Pusher(gw):
            assert run_live.main(argv) == 0
    assert sum(" live" in line for line in capsys.readouterr().out.splitlines()) == 3
    assert sorted(p.name for p in models.iterdir()) == trained  # nothing trained live


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        run_live.main(["--version"])
    assert done.value.code == 0
    assert "btedge-live (btedge " in capsys.readouterr().out


def test_new_flags_reach_the_config():
    args = run_live.build_parser().parse_args(
        ["--strategy", "laguerre_cross", "--symbol", "SPY", "--state-dir", "/tmp/x", "--run-name", "spy1",
         "--max-outage", "600", "--port", "4002", "--client-id", "9"])
    _, _, config = run_live.check_args(args)
    assert (config.port, config.client_id, config.max_outage, config.run_name, str(config.state_dir)) == \
        (4002, 9, 600.0, "spy1", "/tmp/x")


@pytest.mark.parametrize("flag, value, message", [("--max-outage", "0", "--max-outage"), ("--run-name", "a/b", "--run-name")])
def test_bad_state_and_outage_flags(flag, value, message, capsys):
    assert run_live.main(["--strategy", "laguerre_cross", "--symbol", "SPY", flag, value]) == run_live.EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
