"""The package's dependency rules (DEVELOPERS.md), checked on the import statements."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "btedge"
IB_CLIENTS = {"ib_insync", "ib_async", "ibapi"}


def imported_roots(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py")) if package else sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("package", ["models", "training"])
def test_models_and_training_never_import_backtrader(package):
    offenders = [str(p.relative_to(SRC)) for p in modules(package)
                 if any(n == "backtrader" or n.startswith("backtrader.") for n in imported_roots(p))]
    assert not offenders, f"backtrader imported in {offenders}"


def test_strategies_never_import_training():
    """Strategies use indicators and models; the walk-forward plumbing stays in btedge.training."""
    offenders = [str(p.relative_to(SRC)) for p in modules("strategies")
                 if any(n == "btedge.training" or n.startswith("btedge.training.") for n in imported_roots(p))]
    assert not offenders, f"btedge.training imported in {offenders}"


def test_only_live_imports_the_ib_client():
    offenders = [str(p.relative_to(SRC)) for p in modules("")
                 if "live" not in p.relative_to(SRC).parts[:1]
                 and any(n.split(".")[0] in IB_CLIENTS for n in imported_roots(p))]
    assert not offenders, f"IB client imported outside btedge.live: {offenders}"


@pytest.mark.parametrize("package", ["indicators", "strategies", "analyzers", "feeds", "models", "training"])
def test_core_never_imports_live(package):
    offenders = [str(p.relative_to(SRC)) for p in modules(package)
                 if any(n.startswith("btedge.live") for n in imported_roots(p))]
    assert not offenders, f"btedge.live imported in {offenders}"


def test_no_print_in_library_code():
    allowed = {"run_backtest.py", "run_live.py", "__main__.py", "cli.py", "universe.py"}
    offenders = []
    for path in modules(""):
        if path.name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not offenders, f"print() in library code (use logging): {offenders}"


def test_models_and_training_do_not_load_backtrader_at_runtime():
    """The import-statement rule above, checked where it matters: in a fresh interpreter."""
    code = ("import sys, btedge.models, btedge.training, btedge.kernels; "
            "import pkgutil, importlib; "
            "[importlib.import_module(m.name) for p in ('btedge.models', 'btedge.training') "
            " for m in pkgutil.iter_modules(importlib.import_module(p).__path__, p + '.')]; "
            "loaded = [m for m in sys.modules if m == 'backtrader' or m.startswith('backtrader.')]; "
            "print(loaded); sys.exit(1 if loaded else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, f"backtrader loaded by models/training: {proc.stdout}{proc.stderr}"


TESTS = Path(__file__).resolve().parent


def test_test_modules_import_no_other_test_module():
    """Harnesses live in tests/support/; a test module never imports another one."""
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for name in imported_roots(path):
            if name.split(".")[-1].startswith("test_") or name.split(".")[0] in ("conftest", "_btc"):
                offenders.append(f"{path.relative_to(TESTS)} imports {name}")
    assert not offenders, offenders


def test_tests_mirror_the_package():
    """Every test folder names a btedge subpackage (or holds the shared harnesses)."""
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders - packages <= {"support"}, f"test folders without a package: {folders - packages - {'support'}}"
