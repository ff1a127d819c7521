"""Which Airflow each feature needs, and one check that says so in a sentence instead of an ImportError.

Deadline Alerts (``AsyncCallback`` in the triggerer) and human-in-the-loop operators came with Airflow 3.1;
on 3.0 the names they use do not exist. :func:`require_airflow` turns that into one clear error.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from airflow_provider_smtpconn.exceptions import AirflowVersionError


class Feature(NamedTuple):
    """A feature that needs at least ``minimum`` (``"major.minor"``) of Airflow."""

    name: str
    minimum: str


DEADLINE_ALERTS = Feature("Deadline alerts (SendEmailNotifier awaited in the triggerer)", "3.1")
HUMAN_IN_THE_LOOP = Feature("Approval emails for human-in-the-loop tasks", "3.1")


TASK_STATE_STORE = Feature("The task state store (context['task_state_store'])", "3.3")


def airflow_version() -> str:
    """The installed Airflow's version string, e.g. ``"3.3.2"``."""
    import airflow

    return str(airflow.__version__)


def _release(version: str) -> tuple[int, ...]:
    # "3.1.0rc1" and "3.1.0.dev0" count as 3.1.0: a pre-release of 3.1 has 3.1's names.
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def require_airflow(feature: Feature, *, installed: str | None = None) -> None:
    """Raise :class:`AirflowVersionError` if the installed Airflow is older than ``feature`` needs.

    :param installed: The version to check instead of the installed one (for tests).
    :raises AirflowVersionError: One sentence naming the feature, the version it needs and the one found.
    """
    found = installed or airflow_version()
    if _release(found) < _release(feature.minimum):
        raise AirflowVersionError(
            f"{feature.name} need Airflow {feature.minimum} or newer; this is Airflow {found}, so upgrade "
            f"apache-airflow to {feature.minimum} or later to use them."
        )


def has_task_state_store(*, installed: str | None = None) -> bool:
    """Whether the installed Airflow (or ``installed``) keeps a task state store (AIP-103, Airflow 3.3): values a
    task instance keeps across its tries, reachable from every worker through the API server.
    """
    return _release(installed or airflow_version()) >= _release(TASK_STATE_STORE.minimum)
