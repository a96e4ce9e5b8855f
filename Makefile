# Two entry points a new user needs (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,postgres,onnx,ray

.PHONY: venv demo test lint clean

$(BIN)/mlpilot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

venv: $(BIN)/mlpilot

demo: venv
	$(BIN)/mlpilot demo

test: venv
	bash scripts/test.sh

lint: venv
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .mlpilot .pytest_cache
