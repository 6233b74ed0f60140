# Two commands for a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup lint bench eval mutants clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# one resolver run, so mediapipe's numpy<2 / protobuf<5 pins hold
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/streamfx demo

test: $(STAMP)
	bash scripts/install_system_deps.sh
	$(BIN)/python -m pytest -q -ra

lint: $(STAMP)
	$(BIN)/ruff check streamfx engines obs_bridge scripts tests
	$(BIN)/mypy streamfx engines obs_bridge

bench: $(STAMP)
	$(BIN)/python scripts/bench.py

eval: $(STAMP)
	$(BIN)/python scripts/eval.py

mutants: $(STAMP)
	$(BIN)/python scripts/mutants.py

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
