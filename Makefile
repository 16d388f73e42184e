# Two entry points for a fresh machine: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint install clean bench-ci

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ssl-ads pipeline experiment=demo

test: $(STAMP)
	$(BIN)/ruff check ssl_ads tests scripts
	$(BIN)/pytest -q

# The CI benchmark suite (configs/benchmark/ci.yaml): exits 1 when a result falls below a threshold.
bench-ci: $(STAMP)
	$(BIN)/ssl-ads benchmark suite=ci

lint: $(STAMP)
	$(BIN)/ruff check ssl_ads tests scripts
	$(BIN)/ruff format --check ssl_ads tests scripts

clean:
	rm -rf $(VENV) outputs multirun .ssl_ads_cache
