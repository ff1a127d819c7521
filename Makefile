# One virtual environment, made and filled by whichever target needs it first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: test lint demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The whole test suite: environment, install, lint, format check, type check, tests.
test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The quickstart: a local SMTP sink, a throwaway Airflow home, the report DAG run end to end.
demo: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python scripts/demo.py

# Side-by-side measurements against the official SMTP provider and plain smtplib (not part of CI).
bench: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python bench/run.py

lint: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .demo build dist *.egg-info
