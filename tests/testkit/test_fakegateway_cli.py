"""The command line starts a gateway that a real client can use, and refuses bad input clearly."""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from btedge.testkit.fakegateway.__main__ import main

pytestmark = pytest.mark.usefixtures("time_limit")


def test_cli_prints_the_port_and_serves_the_csv(tmp_path, ib_lib):
    csv_path = tmp_path / "bars.csv"
    csv_path.write_text("datetime,open,high,low,close,volume\n"
                        "2025-01-02 14:30:00+00:00,10,11,9,10.5,100\n"
                        "2025-01-02 14:31:00+00:00,10.5,12,10,11.5,200\n")
    proc = subprocess.Popen([sys.executable, "-m", "btedge.testkit.fakegateway", "--csv", str(csv_path),
                             "--port", "0", "--symbol", "SPY"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        ib = ib_lib.IB()
        ib.connect("127.0.0.1", port, clientId=1, timeout=5)
        try:
            (spy,) = ib.qualifyContracts(ib_lib.Stock("SPY", "SMART", "USD"))
            bars = ib.reqHistoricalData(spy, "", "1 D", "1 min", "TRADES", useRTH=False, formatDate=2)
            assert [b.close for b in bars] == [10.5, 11.5]
        finally:
            ib.disconnect()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    assert proc.returncode == 0


@pytest.mark.parametrize("args, message", [
    (["--csv", "/nonexistent/bars.csv"], "file not found"),
    (["--sec-type", "FUT"], "--expiry"),
    (["--server-version", "150"], "157..176"),
])
def test_cli_rejects_bad_input_with_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
