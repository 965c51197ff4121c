# The two commands a newcomer needs: `make demo` and `make test`.
# Each one does its whole setup first (venv, install, local services).
# `make check` is the fast loop while working: lint, layers, unit and pipeline tests, no services.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pip on some machines warns about missing local mirrors; keep the output readable.
PIP_QUIET := 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
# Integration and reliability tests mostly wait on services and real time; each worker runs
# its own local stack on free ports, so they run side by side (see docs/testing.md).
TEST_WORKERS ?= 3
PYTEST_ARGS ?=

.PHONY: setup demo check test lint docs bench stack-up stack-down clean

# The google and google-beta providers' schemas, for the offline Terraform checks.
PROVIDER_SCHEMAS := .clickstream/tools/provider-google/.jsii .clickstream/tools/provider-google-beta/.jsii
# The npm packages generated from the provider version terraform/versions.tf pins (6.50.0).
CDKTF_PROVIDER_VERSION := 16.12.1

setup: $(VENV)/.installed emitters/web/node_modules/.installed $(PROVIDER_SCHEMAS)

# Each provider's schema (npm @cdktf/provider-google and -google-beta) for the offline checks: its
# own target, so an existing checkout gets a newly added one without reinstalling the venv.
.clickstream/tools/provider-%/.jsii:
	@echo "==> unpacking the $* provider's schema (npm @cdktf/provider-$*) for the offline checks"
	@mkdir -p $(@D)
	@cd $(@D) && npm pack --silent @cdktf/provider-$*@$(CDKTF_PROVIDER_VERSION) >/dev/null && \
		tar xzf cdktf-provider-$*-$(CDKTF_PROVIDER_VERSION).tgz --strip-components=1 package/.jsii package/package.json && \
		rm cdktf-provider-$*-$(CDKTF_PROVIDER_VERSION).tgz

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> installing clickstream into $(VENV)"
	@$(BIN)/python -m pip install -q --upgrade pip $(PIP_QUIET)
	@$(BIN)/python -m pip install -q -e '.[dev]' $(PIP_QUIET)
	@$(BIN)/python -c "import clickstream, emitters, apache_beam" || (echo "install failed" >&2; exit 1)
	@echo "==> installing the BigQuery stand-in into its own venv"
	@$(BIN)/clickstream local install
	@echo "==> installing checkov into its own venv (offline Terraform and Dockerfile checks)"
	@test -x .clickstream/tools/checkov-venv/bin/checkov || ( \
		$(PYTHON) -m venv .clickstream/tools/checkov-venv && \
		.clickstream/tools/checkov-venv/bin/python -m pip install -q checkov==3.3.30 $(PIP_QUIET) )
	@test -x .clickstream/tools/checkov-venv/bin/checkov || (echo "checkov install failed" >&2; exit 1)
	@echo "==> installing the Node.js producer example's modules (examples/node-producer)"
	@test -d examples/node-producer/node_modules || npm ci --prefix examples/node-producer --no-audit --no-fund --silent
	@touch $@

# The browser tracker's dev dependencies (esbuild, for its size budget); `make test` runs its node
# tests. Once, and again when the lock file changes.
emitters/web/node_modules/.installed: emitters/web/package-lock.json
	@echo "==> installing the browser tracker's node modules (emitters/web)"
	@npm ci --prefix emitters/web --no-audit --no-fund
	@touch $@

# The local path end to end: stack, streaming pipeline, a minute of viewers, signal job, summary.
# Stops everything it started (also on Ctrl-C). Options: make demo DEMO_ARGS="--keep-running --report report".
DEMO_ARGS ?=
demo: setup
	@$(BIN)/clickstream demo $(DEMO_ARGS)

lint: setup
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/lint-imports --no-cache

# Lint plus every test that needs no service: under two minutes.
check: lint
	@$(BIN)/pytest -q -p no:cacheprovider tests/unit tests/pipeline

docs: setup
	@$(BIN)/mkdocs build --strict --quiet -d .clickstream/site

# Everything, as CI runs it.
test: lint docs
	@$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

bench: setup
	@$(BIN)/python -m bench

stack-up: setup
	@$(BIN)/clickstream local up

stack-down:
	@test -x $(BIN)/clickstream && $(BIN)/clickstream local down || true

clean: stack-down
	rm -rf $(VENV) .clickstream
