# papersbot — the two quickstart commands are `make demo` and `make test` (see README).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= ./papersbot-data
QUESTION ?= 2025년 2월 5일에 가장 추천을 많이 받은 논문은 무엇인가요?

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## demo: set up, ingest the bundled sample digests into the embedded default, answer one question
demo: setup
	$(BIN)/papersbot --data-dir $(DATA) ingest data/samples
	$(BIN)/papersbot --data-dir $(DATA) ask "$(QUESTION)"
	$(BIN)/papersbot --data-dir $(DATA) ask "Which paper improves single-image 3D generation with Gaussian splatting?"

## test: set up, lint, type-check and run the whole test suite (sockets limited to 127.0.0.1)
test: setup lint
	$(BIN)/python -m pytest -q

## lint: ruff, mypy, and the import-linter contracts of pyproject.toml (dependency direction, see README)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## bench: every benchmark script (slow: minutes; see README "Benchmarks")
bench: setup
	$(BIN)/python benchmarks/bench_ingest.py

clean:
	rm -rf $(VENV) $(DATA) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
