"""Running DAGs for real in tests: a SQLite metadata DB, ``dag.test()``, and reading back states and XComs."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from airflow.sdk import DAG

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def make_dag(dag_id: str, **kwargs: Any) -> DAG:
    """An unscheduled DAG starting on :data:`START`, without catchup; ``kwargs`` go to ``DAG``."""
    from airflow.sdk import DAG

    return DAG(dag_id, schedule=None, start_date=START, catchup=False, **kwargs)


def load_module(path: Path) -> Any:
    """Import a file that is not on ``sys.path`` (an example DAG, a bench script) as a module."""
    spec = importlib.util.spec_from_file_location(f"smtpconn_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def serialize_dag_to_db(dag: DAG, bundle_name: str = "dags-folder") -> None:
    """Write ``dag`` to the metadata DB, as the DAG processor would: ``dag.test()`` runs DAGs that have a version there.

    Airflow 3.3 builds the serialized form with ``LazyDeserializedDAG.from_dag`` and takes a parse duration;
    Airflow 3.0 has neither (the smoke suite runs there too, see ``tests/smoke``).
    """
    import inspect
    import os

    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    if hasattr(LazyDeserializedDAG, "from_dag"):
        lazy = LazyDeserializedDAG.from_dag(dag)
    else:  # Airflow 3.0: the DagBag sets relative_fileloc (to the bundle root) before serializing
        from airflow.serialization.serialized_objects import SerializedDAG

        if dag.relative_fileloc is None:
            dag.relative_fileloc = os.path.basename(dag.fileloc)
        lazy = LazyDeserializedDAG(data=SerializedDAG.to_dict(dag))
    takes_duration = "parse_duration" in inspect.signature(update_dag_parsing_results_in_db).parameters
    DagBundlesManager().sync_bundles_to_db()
    with create_session() as session:
        update_dag_parsing_results_in_db(
            bundle_name, None, [lazy], {}, *([None] if takes_duration else []), set(), session=session
        )


def run_dag(dag: DAG, **kwargs: Any) -> Any:
    """Serialize ``dag`` and run it once with ``dag.test()``; returns the DagRun (failures do not raise)."""
    serialize_dag_to_db(dag)
    if not hasattr(dag, "test"):  # Airflow 3.0: only the scheduler's DAG has test(), as `airflow dags test` does
        from airflow.models.dag import DAG as SchedulerDAG

        dag = SchedulerDAG.from_sdk_dag(dag)
    return dag.test(**kwargs)


def task_states(dag_run: Any) -> dict[str, tuple[str, int]]:
    """``task_id -> (state, try_number)`` for every task instance of the run (mapped ones: the last)."""
    return {ti.task_id: (str(ti.state), ti.try_number) for ti in dag_run.get_task_instances()}


def xcom_value(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    """The XCom a task pushed in this run, deserialized, or ``None``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key=key)
        ).first()
        return XComModel.deserialize_value(row) if row else None


def connection_json(
    host: str, port: int, *, login: str | None = None, password: str | None = None, **extra: Any
) -> str:
    """An ``AIRFLOW_CONN_<ID>`` value for an ``smtpconn`` connection (JSON form, extras keep their types)."""
    value: dict[str, Any] = {"conn_type": "smtpconn", "host": host, "port": port, "extra": extra}
    if login is not None:
        value["login"] = login
    if password is not None:
        value["password"] = password
    return json.dumps(value)


def resume_run(dag: DAG, run_id: str) -> Any:
    """Run what is ready in an existing DAG run (a retry, a cleared task) in this process, the way ``dag.test()``
    runs tasks, but keeping the run (``dag.test()`` deletes and recreates it, and with it the run's task state
    store). This is the worker's side: the scheduler's part is only to hand over ready task instances.
    """
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    serialize_dag_to_db(dag)
    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    session = settings.Session()
    dag_run = session.scalar(select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id))
    dag_run.dag = scheduler_dag
    dag_run.state = DagRunState.RUNNING
    session.commit()
    for _ in range(20):  # bounded: a handful of tasks, each run once per round
        if dag_run.state != DagRunState.RUNNING:
            break
        session.expire_all()
        ready, _ = dag_run.update_state(session=session)
        for ti in ready:
            ti.try_number += 1
            ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        for ti in [t for t in dag_run.get_task_instances(session=session) if t.state == TaskInstanceState.SCHEDULED]:
            _run_task(ti=ti, task=dag.task_dict[ti.task_id])
    session.close()
    return dag_run


def fail_as_heartbeat_timeout(dag_id: str, run_id: str, task_id: str) -> None:
    """What the scheduler does with a task instance whose worker died: ``handle_failure``, which sets it up for
    retry (archiving the try) while it has retries left.
    """
    from airflow.models.dag import DagModel  # noqa: F401  # the ORM needs it mapped
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        ti = session.scalar(
            select(TaskInstance)
            .join(DagRun, TaskInstance.run_id == DagRun.run_id)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id)
        )
        ti.handle_failure(error="the worker running it was killed (no heartbeat)", session=session)
