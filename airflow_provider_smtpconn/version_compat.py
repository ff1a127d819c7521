"""Every difference between the Airflow versions this package supports, in one place (as the official providers'
``version_compat.py``): where each name lives, and which Airflow each feature needs.

Airflow 3.0 keeps some names in ``airflow.*`` that later versions serve from the Task SDK (``airflow.sdk``). The
exception bases are imported at once (they are light, and ``exceptions.py`` derives from them); the shells' base
classes and helpers are imported on first use through this module's ``__getattr__`` (``BaseOperator`` pulls in the
Task SDK, which a message composed in plain Python does not need). Without Airflow at all (``message/`` and
``smtp/`` used on their own) the exception bases are plain ``Exception`` subclasses.

Deadline Alerts (``AsyncCallback`` in the triggerer) and human-in-the-loop operators came with Airflow 3.1; on 3.0
the names they use do not exist. :func:`require_airflow` turns that into one clear error.
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from airflow.sdk import BaseHook, BaseNotifier, BaseOperator, ObjectStoragePath
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
    from airflow.sdk.log import mask_secret
else:
    try:
        from airflow.sdk.exceptions import AirflowException, AirflowFailException
    except ImportError:  # pragma: no cover - Airflow 3.0, or no Airflow
        try:
            from airflow.exceptions import AirflowException, AirflowFailException
        except ImportError:

            class AirflowException(Exception):
                """Stands in for Airflow's base exception where Airflow is not installed."""

            class AirflowFailException(AirflowException):
                """Stands in for Airflow's "fail without retrying" exception where Airflow is not installed."""


__all__ = [
    "AirflowException",
    "AirflowFailException",
    "BaseHook",
    "BaseNotifier",
    "BaseOperator",
    "ObjectStoragePath",
    "conf",
    "mask_secret",
]

#: name -> where it lives, newest Airflow first (Airflow 3.0 last).
_LOCATIONS: dict[str, tuple[str, ...]] = {
    "BaseOperator": ("airflow.sdk", "airflow.models"),
    "BaseHook": ("airflow.sdk", "airflow.hooks.base"),
    "BaseNotifier": ("airflow.sdk.bases.notifier", "airflow.notifications.basenotifier"),
    "ObjectStoragePath": ("airflow.sdk", "airflow.io.path"),
    "conf": ("airflow.sdk.configuration", "airflow.configuration"),
    "mask_secret": ("airflow.sdk.log", "airflow.sdk.execution_time.secrets_masker"),
}


def __getattr__(name: str) -> Any:
    """Import ``name`` from the first of its locations that this Airflow has, on first use."""
    if name not in _LOCATIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for module in _LOCATIONS[name]:
        try:
            value = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        globals()[name] = value
        return value
    raise ImportError(f"{name} is not in this Airflow (looked in {', '.join(_LOCATIONS[name])}).")


class Feature(NamedTuple):
    """A feature that needs at least ``minimum`` (``"major.minor"``) of Airflow."""

    name: str
    minimum: str


DEADLINE_ALERTS = Feature("Deadline alerts (SendEmailNotifier awaited in the triggerer)", "3.1")
TASK_STATE_STORE = Feature("The task state store (context['task_state_store'])", "3.3")
HUMAN_IN_THE_LOOP = Feature("Approval emails for human-in-the-loop tasks", "3.1")


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
    from airflow_provider_smtpconn.exceptions import AirflowVersionError

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
