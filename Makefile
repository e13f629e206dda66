# The two commands of the README: `make demo` and `make test`. Each creates .venv when missing and
# (re)installs when pyproject.toml changed, so a fresh machine needs nothing but Python >= 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

# `make test` runs these again under the fallback WebSocket transport (the suite's default is
# picows when installed): everything that opens venue sockets
TRANSPORT_TESTS := tests/runtime tests/venues/test_conformance.py tests/venues/test_handover.py \
	$(wildcard tests/venues/*/test_e2e.py tests/venues/*/test_stack.py tests/venues/*/test_end_to_end.py)

.PHONY: demo test lint typecheck bench simulate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo,test]'
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(BIN)/feedgate demo

test: $(VENV)/.installed-test
	$(BIN)/python -m ruff check src tests bench
	$(BIN)/python -m ruff format --check --quiet src tests bench
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest
	FEEDGATE_TRANSPORT=websockets $(BIN)/python -m pytest -q $(TRANSPORT_TESTS)

lint: $(VENV)/.installed-test
	$(BIN)/python -m ruff check src tests bench
	$(BIN)/python -m ruff format --check src tests bench

typecheck: $(VENV)/.installed-test
	$(BIN)/python -m mypy

bench: $(VENV)/.installed-test
	$(BIN)/python bench/throughput.py

simulate: $(VENV)/.installed-demo
	$(BIN)/feedgate simulate

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
