# Two virtual environments, each made and filled by whichever target needs it first: .venv with the current
# Airflow for everything, .venv-floor with the lowest Airflow the package declares, for the smoke suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
FLOOR_VENV        ?= .venv-floor
FLOOR_BIN         := $(FLOOR_VENV)/bin
FLOOR_CONSTRAINTS := tests/smoke/constraints-floor.txt

.PHONY: test test-floor test-distributed lint demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(FLOOR_BIN)/python:
	$(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_BIN)/pip install --quiet --upgrade pip

# The whole test suite: environment, install, lint, format check, type check, tests on the current Airflow;
# then the smoke suite on the lowest Airflow declared.
test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest
	$(MAKE) test-floor

# The smoke suite (tests/smoke) on the floor: Airflow as pinned in $(FLOOR_CONSTRAINTS).
test-floor: $(FLOOR_BIN)/python
	$(FLOOR_BIN)/pip install --quiet -c $(FLOOR_CONSTRAINTS) -e '.[smoke]' WTForms
	SMTPCONN_FLOOR_RUN=1 $(FLOOR_BIN)/python -m pytest -m smoke tests/smoke

# The distributed suite (tests/distributed): Airflow with the CeleryExecutor on this machine, a worker killed in
# the middle of a mail merge (about a minute). It installs what it needs: the Celery provider (Celery below 5.7,
# whose database backend no longer has the `retry` the provider imports), PostgreSQL's drivers, and PostgreSQL's
# server binaries when missing; the suite starts and stops its own server. Bounded: 10 minutes, then stopped.
test-distributed: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]' apache-airflow-providers-celery 'celery>=5.5,<5.7' psycopg2-binary asyncpg
	tests/distributed/install-postgres.sh
	SMTPCONN_DISTRIBUTED_RUN=1 timeout --kill-after=30 600 $(BIN)/python -m pytest -m distributed tests/distributed

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
	rm -rf $(VENV) $(FLOOR_VENV) .demo build dist *.egg-info
