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
	@echo "==> installing checkov into its own venv (offline Terraform and Dockerfile checks)"
	@test -x .clickstream/tools/checkov-venv/bin/checkov || ( \
		$(PYTHON) -m venv .clickstream/tools/checkov-venv && \
		.clickstream/tools/checkov-venv/bin/python -m pip install -q checkov==3.3.30 $(PIP_QUIET) )
	@test -x .clickstream/tools/checkov-venv/bin/checkov || (echo "checkov install failed" >&2; exit 1)
	@touch $@

# The local path end to end: stack, streaming pipeline, a minute of viewers, signals, answers.
# The pipeline stops itself once no message came for 20 s (its log: .clickstream/logs/demo-pipeline.log).
demo: setup
	@$(BIN)/clickstream local up
	@mkdir -p .clickstream/logs
	@$(BIN)/clickstream pipeline run --local --idle-stop 20 --session_gap_s=30 --early_firing_s=10 \
		> .clickstream/logs/demo-pipeline.log 2>&1 & \
	sleep 8; \
	$(BIN)/clickstream emit --duration 60 --rate 40 --session-gap 30 \
		--duplicates 0.02 --invalid 0.01 --late 0.02 --skewed 0.02 || exit 1; \
	echo "==> waiting for the pipeline to drain the subscription"; wait
	@$(BIN)/clickstream signals run
	@$(BIN)/clickstream query --file sql/queries/reconciliation.sql --param days=1
	@$(BIN)/clickstream query --file sql/queries/top_dead_letter_reasons.sql --param days=1
	@$(BIN)/clickstream query "SELECT rank, video_id, ROUND(score, 2) AS score, unique_users FROM \`\$${project}.\$${dataset}.video_trending\` WHERE as_of = (SELECT MAX(as_of) FROM \`\$${project}.\$${dataset}.video_trending\`) AND rank <= 5 ORDER BY rank"
	@echo "The stack stays up: query it with .venv/bin/clickstream query, stop it with .venv/bin/clickstream local down"

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
