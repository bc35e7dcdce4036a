# Two entry points for a fresh machine with only Python 3.11+: `make up` and `make test`.
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: up test lint install

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the studio on the embedded default stack (Postgres + Temporal under ./.runstudio).
up: $(STAMP)
	$(VENV)/bin/runstudio up

## Lint, type-check and run the whole test suite against real embedded services.
test: $(STAMP) lint
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy engine worker runstudio studio_tui
