# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The CPU torch wheel lives in /opt/wheels on our machines; elsewhere pip uses its configured indexes.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
PIP    := $(BIN)/python -m pip install -q --disable-pip-version-check $(FIND_LINKS) -c constraints.txt
PYTEST_WORKERS ?= 2

.PHONY: venv demo test test-fast lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip setuptools wheel
	$(PIP) -e '.[all]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/btedge-backtest --demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts run_backtest.py run_live.py

test: lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m 'not slow'

bench: $(STAMP)
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
