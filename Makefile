# Virtual environments, each made and filled by whichever target needs it first: .venv with the current Airflow
# and the checkout installed editable, for everything; one .venv-airflow-<minor> per older Airflow minor, holding
# exactly that minor's frozen constraint set (tests/smoke/constraints-airflow-<minor>.txt) and the built wheel,
# for the smoke suite. A minor's environment is made anew whenever its constraint file changes.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DIST   := dist
SMOKE_MINORS  := $(patsubst tests/smoke/constraints-airflow-%.txt,%,$(wildcard tests/smoke/constraints-airflow-*.txt))
SMOKE_TARGETS := $(addprefix test-airflow-,$(SMOKE_MINORS))

.PHONY: test dist test-wheel smoke-wheel test-distributed $(SMOKE_TARGETS) lint demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

.venv-airflow-%/bin/python: tests/smoke/constraints-airflow-%.txt
	rm -rf .venv-airflow-$*
	$(PYTHON) -m venv .venv-airflow-$*
	.venv-airflow-$*/bin/pip install --quiet --upgrade pip

# The whole test suite: environment, install, lint, format and type checks, the sdist and wheel built and checked,
# every test on the current Airflow (tests/test_wheel.py reads the files just built); then the smoke suite against
# the built wheel on each older Airflow minor.
test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(MAKE) dist
	SMTPCONN_DIST=$(DIST) $(BIN)/python -m pytest
	$(MAKE) smoke-wheel
	$(MAKE) test-distributed

# The sdist and the wheel, built with the standard front end (the wheel from the sdist), and their metadata
# checked as the package index would.
dist: $(BIN)/python
	$(BIN)/pip install --quiet build twine
	rm -rf $(DIST)
	$(BIN)/python -m build --outdir $(DIST) .
	$(BIN)/twine check --strict $(DIST)/*

# Build, then the smoke suite against the wheel on each older Airflow minor.
test-wheel: dist
	$(MAKE) smoke-wheel
	$(MAKE) test-distributed

smoke-wheel: $(SMOKE_TARGETS)

# One minor: the wheel in dist/ installed (not editable) with that minor's constraints, the environment checked
# to hold exactly the frozen set, then tests/smoke run from a temporary folder outside the checkout.
$(SMOKE_TARGETS): test-airflow-%: .venv-airflow-%/bin/python
	.venv-airflow-$*/bin/pip uninstall --quiet --yes airflow-provider-smtpconn
	wheel=$$(ls $(DIST)/airflow_provider_smtpconn-*.whl) && \
		.venv-airflow-$*/bin/pip install --quiet -c tests/smoke/constraints-airflow-$*.txt "$$wheel[smoke]" WTForms
	diff <(.venv-airflow-$*/bin/pip freeze --exclude airflow-provider-smtpconn) \
		<(grep -v '^#' tests/smoke/constraints-airflow-$*.txt) \
		|| { echo ".venv-airflow-$* is not its constraint set: rm -rf .venv-airflow-$* and run again"; exit 1; }
	$(BIN)/python tests/smoke/outside_checkout.py .venv-airflow-$*/bin/python tests/smoke/constraints-airflow-$*.txt

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
	rm -rf $(VENV) .venv-airflow-* .demo build $(DIST) *.egg-info
