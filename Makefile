# Two entry points for a fresh machine: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# the core install (sequence and tabular work: all the demo needs), then every extra and the dev tools for the tests
CORE_STAMP := $(VENV)/.installed-core
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint install clean bench-ci wheel-check

install: $(STAMP)

$(CORE_STAMP): pyproject.toml setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $(CORE_STAMP)

$(STAMP): $(CORE_STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(CORE_STAMP)
	$(BIN)/ssl-ads pipeline experiment=demo

# Two single-threaded workers (tests/conftest.py pins torch to one thread), one test file per worker.
test: $(STAMP)
	$(BIN)/ruff check ssl_ads tests scripts
	$(BIN)/pytest -q -n 2 --dist loadfile

# A normal install as users get it: the wheel into a fresh venv with the core dependencies only, then `ssl-ads --help`
# and a tiny pipeline from an empty directory (2-4 minutes; `make test` checks the wheel on .venv's packages).
wheel-check: $(STAMP)
	SSL_ADS_FRESH_INSTALL=1 $(BIN)/pytest -q tests/integration/test_wheel_install.py -k fresh_venv

# The CI benchmark suite (configs/benchmark/ci.yaml): exits 1 when a result falls below a threshold.
bench-ci: $(STAMP)
	$(BIN)/ssl-ads benchmark suite=ci

lint: $(STAMP)
	$(BIN)/ruff check ssl_ads tests scripts
	$(BIN)/ruff format --check ssl_ads tests scripts

clean:
	rm -rf $(VENV) outputs multirun .ssl_ads_cache
