# The two commands a newcomer needs: `make demo` and `make test`.
# Each one does its whole setup first (venv, install, local services).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pip on some machines warns about missing local mirrors; keep the output readable.
PIP_QUIET := 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true

.PHONY: setup demo test bench lint stack-up stack-down clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> installing clickstream into $(VENV)"
	@$(BIN)/python -m pip install -q --upgrade pip $(PIP_QUIET)
	@$(BIN)/python -m pip install -q -e '.[dev]' $(PIP_QUIET)
	@$(BIN)/python -c "import clickstream, emitters, apache_beam" || (echo "install failed" >&2; exit 1)
	@echo "==> installing the BigQuery stand-in into its own venv"
	@$(BIN)/clickstream local install
	@touch $@

demo: setup
	@$(BIN)/clickstream local up
	@$(BIN)/clickstream emit --duration 60 --viewers 40 --rate 40 --duplicates 0.02 --invalid 0.01 --late 0.02 --skewed 0.02
	@$(BIN)/clickstream local status

test: setup
	@$(BIN)/ruff check .
	@$(BIN)/pytest

bench: setup
	@$(BIN)/python -m bench.pipeline_chain
	@$(BIN)/python -m bench.replay --breakdown
	@$(BIN)/clickstream local up >/dev/null
	@$(BIN)/python -m bench.signals

lint: setup
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

stack-up: setup
	@$(BIN)/clickstream local up

stack-down:
	@test -x $(BIN)/clickstream && $(BIN)/clickstream local down || true

clean: stack-down
	rm -rf $(VENV) .clickstream
