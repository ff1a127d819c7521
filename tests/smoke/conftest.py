"""The smoke suite's one addition to ``tests/conftest.py``: a deprecation inside other providers is not an error.

On the older Airflow minors the suite runs against the newest releases of Airflow's own providers, and the
compat provider's lookup of a name tries Airflow's deprecated paths first (``airflow.operators.branch`` on 3.1),
which warns at import. That is their code, not this package's: our own deprecated imports still fail the tests.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)  # after tests/conftest.py made these warnings errors: a later filter wins
def pytest_configure(config: pytest.Config) -> None:
    try:
        from airflow.utils.deprecation_tools import DeprecatedImportWarning  # noqa: F401
    except ImportError:  # Airflow 3.0 has no such class
        return
    config.addinivalue_line(
        "filterwarnings",
        "ignore::airflow.utils.deprecation_tools.DeprecatedImportWarning:airflow.providers.common.compat",
    )
