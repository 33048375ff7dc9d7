"""``btedge-evaluate``: the --quick run end to end (the CI smoke run) and its usage errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from btedge.cli import EXIT_USAGE
from btedge.evaluation.cli import main
from btedge.evaluation.report import END, START
from tests.support.shared import require_shared

SCRIPT = Path(sys.executable).parent / "btedge-evaluate"


@pytest.mark.slow
def test_quick_run_end_to_end(tmp_path):
    require_shared("pypi", "intraday")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ml_evaluation.md").write_text(f"# keep me\n\nhand-written reading\n\n{START}\nold\n{END}\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    done = subprocess.run([str(SCRIPT), "--quick", "--docs", str(docs), "--cache", str(tmp_path / "cache"),
                           "--json", str(tmp_path / "figures.json")], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr[-2000:]
    evaluation = (docs / "ml_evaluation.md").read_text()
    assert evaluation.startswith("# keep me\n\nhand-written reading") and "\nold\n" not in evaluation
    for row in ("ensemble (learned weights)", "label-shuffled ensemble", "class prior", "persistence", "majority",
                "buy and hold", "deflated Sharpe", "PBO"):
        assert row in evaluation
    claims = (docs / "claims.md").read_text()
    assert claims.count("\n| ") == 8  # header + 7 claims
    figures = json.loads((tmp_path / "figures.json").read_text())
    ens = figures["datasets"][0]["configs"][0]
    assert ens["seeds"] == 2 and 0 < ens["intervals"]["balanced_accuracy"]["value"] < 1
    assert {c["verdict"] for c in figures["claims"]} <= {"supported", "not supported", "not tested"}
    print(f"btedge-evaluate --quick: {wall:.0f} s")  # the budget is < 60 s on a quiet machine


@pytest.mark.parametrize("argv, message", [
    (["--sets", "nope"], "unknown data set 'nope'"),
    (["--claims", "magic"], "unknown claim"),
    (["--seeds", "0"], "--seeds, --epochs and --jobs must be >= 1"),
])
def test_bad_arguments_are_one_line_usage_errors(argv, message, capsys, tmp_path):
    assert main([*argv, "--docs", str(tmp_path)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
