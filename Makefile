# Two entry points for a fresh machine with only Python 3.11+: `make up` and `make test`.
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The JSONata reference (jsonata-js) the conformance test compares with; installed once, offline after.
JSONATA_REF_VERSION := 2.2.2
JSONATA_REF_DIR     := .cache/jsonata-ref
JSONATA_REF_STAMP   := $(JSONATA_REF_DIR)/.installed-$(JSONATA_REF_VERSION)
# apt needs root: CI runners (not root) have passwordless sudo.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: up test lint install jsonata-ref

# Installs with bytecode: site-packages (--compile-bytecode) and the project's own packages, which an
# editable install leaves uncompiled; with PYTHONDONTWRITEBYTECODE set nothing else would ever write it,
# and every CLI start would compile the engine again (~1 s).
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -e '.[dev]'
	$(PY) -m compileall -q engine worker runstudio studio_tui
	touch $(STAMP)

install: $(STAMP)

$(JSONATA_REF_STAMP):
	mkdir -p $(JSONATA_REF_DIR)
	npm install --prefix $(JSONATA_REF_DIR) --no-audit --no-fund --silent jsonata@$(JSONATA_REF_VERSION)
	touch $(JSONATA_REF_STAMP)

## Install the JSONata reference (node) for tests/conformance.
jsonata-ref: $(JSONATA_REF_STAMP)

## Run the studio on the embedded default stack (Postgres + Temporal under ./.runstudio).
up: $(STAMP)
	$(VENV)/bin/runstudio up

## Debian's chromium for tests/browser (playwright drives it by path, never downloads one); once, through apt.
.PHONY: chromium
chromium:
	command -v chromium >/dev/null || ($(SUDO) apt-get update && $(SUDO) apt-get install -y chromium)

## Lint, type-check and run the whole test suite against real embedded services.
test: $(STAMP) lint $(JSONATA_REF_STAMP) chromium
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy engine worker runstudio studio_tui

## Fault-injection suite (tests/faults) at the developer size (≤ 10 min): one line of figures per
## scenario, then the total. `make test` runs the same scenarios at the quick size.
.PHONY: faults
faults: $(STAMP)
	RUNSTUDIO_FAULTS_SIZE=dev $(VENV)/bin/pytest tests/faults -m faults -q -p no:cacheprovider

## Benchmarks of issue 16: one line per goal (measured, goal, ratio, load) and `N/M goals met`.
## BENCH_ARGS=--quick for the CI-sized smoke, --full for fan-out to 10,000 runs, --only NAME for one goal.
.PHONY: bench
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)
