"""What a notifier can say about where it was called from, and the default message it sends about it.

A task's or a DAG's own callbacks (``on_failure_callback``, ``on_retry_callback``, ...) get a small table of
facts, :class:`TaskCallback`: DAG, task, run, try, when, how long, the exception's last line and the log link,
as HTML that Outlook and Gmail lay out alike and as plain text. Two places call
:class:`~airflow_provider_smtpconn.notifications.smtp.SendEmailNotifier` with a context that is not a callback's:

* A missed **deadline** (Airflow 3.1+): the triggerer awaits the notifier with a small context and no task
  instance: ``{"dag_run": <the run as the REST API shows it, a JSON dict>, "deadline": {"id": ...,
  "deadline_time": <datetime or ISO text>}}``. :class:`MissedDeadline` reads it.
* A **human-in-the-loop** task (``HITLOperator``, ``ApprovalOperator``; Airflow 3.1+ and the standard
  provider) calls its ``notifiers`` when it starts waiting for a person. :func:`required_actions_url` builds
  the link to that task instance's "Required Actions" page, offered to templates as
  ``{{ required_actions_url }}``; :class:`WaitingForInput` writes the default message.

No Airflow import at module level: DAG files import the notifier, and this module with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_smtpconn.message.facts import Fact, FactCard
from airflow_provider_smtpconn.version_compat import HUMAN_IN_THE_LOOP, require_airflow

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The template variable holding the link to a waiting task instance's "Required Actions" page.
REQUIRED_ACTIONS_URL = "required_actions_url"

_DEFAULT_BASE_URL = "http://localhost:8080/"  # what Airflow's own log_url falls back to


@dataclass(frozen=True)
class DefaultMessage:
    """The subject, plain-text body (and HTML body, if any) and Message-ID identity a notifier uses when none
    were given, and the name parts (DAG, run, what) of a dry run's ``.eml``.
    """

    subject: str
    text: str
    identity: tuple[Any, ...]
    dry_run_name: tuple[str, ...]
    html: str | None = None


def base_url() -> str:
    """The Airflow UI's address: ``[api] base_url``, else ``http://localhost:8080/`` as for log links."""
    from airflow_provider_smtpconn.version_compat import conf

    return conf.get("api", "base_url", fallback=None) or _DEFAULT_BASE_URL


def default_message(context: Context | Mapping[str, Any], notifier: object) -> DefaultMessage | None:
    """The default message for a deadline context, or for ``notifier`` called as one of a human-in-the-loop
    task's ``notifiers`` (not as its ``on_failure_callback``, say); ``None`` for any other context.
    """
    deadline = MissedDeadline.from_context(context)
    if deadline is not None:
        return deadline.default_message()
    waiting_for_input = context.get("exception") is None  # a failure callback is about the failure
    if waiting_for_input and any(n is notifier for n in getattr(context.get("task"), "notifiers", None) or ()):
        waiting = WaitingForInput.from_context(context)
        if waiting is not None:
            return waiting.default_message()
    return None


# -- deadline alerts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MissedDeadline:
    """The facts of a deadline callback's context: which DAG and run missed which deadline, and when.

    Times are timezone-aware datetimes (UTC when the context gave no zone), or ``None`` when absent.
    """

    dag_id: str
    run_id: str
    deadline_time: dt.datetime | None
    deadline_id: str | None
    run_state: str | None
    run_type: str | None
    queued_at: dt.datetime | None
    start_date: dt.datetime | None
    logical_date: dt.datetime | None

    @classmethod
    def from_context(cls, context: Context | Mapping[str, Any]) -> MissedDeadline | None:
        """Read a deadline callback's context; ``None`` if ``context`` is not one (no ``deadline`` key)."""
        deadline = context.get("deadline")
        if deadline is None or context.get("ti") is not None or context.get("task_instance") is not None:
            return None
        run = context.get("dag_run")
        return cls(
            dag_id=str(_field(run, "dag_id") or "unknown DAG"),
            run_id=str(_field(run, "dag_run_id", "run_id") or "unknown run"),
            deadline_time=_when(_field(deadline, "deadline_time")),
            deadline_id=_text_or_none(_field(deadline, "id")),
            run_state=_text_or_none(_field(run, "state")),
            run_type=_text_or_none(_field(run, "run_type")),
            queued_at=_when(_field(run, "queued_at")),
            start_date=_when(_field(run, "start_date")),
            logical_date=_when(_field(run, "logical_date")),
        )

    @property
    def run_url(self) -> str:
        """The run's page in the Airflow UI."""
        return f"{base_url().rstrip('/')}/dags/{quote(self.dag_id)}/runs/{quote(self.run_id)}"

    def default_message(self) -> DefaultMessage:
        """Subject and body (text and HTML) naming the DAG, the run, the deadline and when it passed."""
        when = _show(self.deadline_time) or "an unknown time"
        subject = f"[Airflow] {self.dag_id}: run {self.run_id} missed its deadline ({when})"
        facts = [Fact("DAG", self.dag_id), Fact("Run", self.run_id), Fact("Deadline", when)]
        for label, value in (
            ("Run state", self.run_state),
            ("Run type", self.run_type),
            ("Queued at", _show(self.queued_at)),
            ("Started at", _show(self.start_date)),
            ("Logical date", _show(self.logical_date)),
        ):
            if value:
                facts.append(Fact(label, value))
        facts.append(Fact("Run page", "Open the run", url=self.run_url))
        card = FactCard(f"DAG {self.dag_id}, run {self.run_id}, missed its deadline of {when}.", facts, "late")
        identity = ("deadline", self.dag_id, self.run_id, self.deadline_id or _show(self.deadline_time))
        name = (self.dag_id, self.run_id, "deadline")
        return DefaultMessage(subject, card.text(), identity, name, card.html())


def _field(source: Any, *names: str) -> Any:
    for name in names:
        value = source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)
        if value is not None:
            return getattr(value, "value", value)  # enums (DagRunState, DagRunType) as their text
    return None


def _text_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _when(value: Any) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _show(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- task and DAG callbacks --------------------------------------------------------------------------------

_HEADLINES = {"failed": "failed", "up_for_retry": "failed and will be retried", "success": "succeeded"}
_TONES = {"failed": "failed", "upstream_failed": "failed", "up_for_retry": "retry", "success": "success"}


@dataclass(frozen=True)
class TaskCallback:
    """The facts of a task's or a DAG's callback context (any of them may be missing, as ``None``)."""

    dag_id: str | None
    task_id: str | None
    run_id: str | None
    map_index: int
    try_number: int | None
    max_tries: int | None
    state: str | None
    exception: str | None
    reason: str | None
    log_url: str | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None

    @classmethod
    def from_context(cls, context: Context | Mapping[str, Any]) -> TaskCallback:
        """Read a callback's context: the task instance's if there is one, else the DAG run's."""
        ti = context.get("ti") or context.get("task_instance")
        dag, run = context.get("dag"), context.get("dag_run")
        source = ti if ti is not None else run
        map_index = getattr(ti, "map_index", -1)
        return cls(
            dag_id=_text_or_none(getattr(dag, "dag_id", None) or _field(ti, "dag_id") or _field(run, "dag_id")),
            run_id=_text_or_none(context.get("run_id") or _field(run, "run_id") or _field(ti, "run_id")),
            task_id=_text_or_none(_field(ti, "task_id")),
            map_index=map_index if isinstance(map_index, int) else -1,
            try_number=_field(ti, "try_number"),
            max_tries=_field(ti, "max_tries"),
            state=_text_or_none(_field(ti, "state") or _field(run, "state")),
            exception=_last_line(context.get("exception")),
            reason=_text_or_none(context.get("reason")),
            log_url=_text_or_none(_field(ti, "log_url")),
            start_date=_when(_field(source, "start_date")),
            end_date=_when(_field(source, "end_date")),
        )

    def default_message(self) -> DefaultMessage:
        """Subject naming the DAG and task; a table of the facts, in HTML and in text."""
        where = (self.dag_id or "DAG") + (f".{self.task_id}" if self.task_id else "")
        subject = f"[Airflow] {where}: {self.state or 'notification'} ({self.run_id})"
        what = f"Task {self.task_id} of DAG {self.dag_id}" if self.task_id else f"DAG {self.dag_id}"
        happened = _HEADLINES.get(self.state or "", f"is {self.state}" if self.state else "sent a notification")
        card = FactCard(f"{what} {happened}.", self.facts(), _TONES.get(self.state or "", "neutral"))
        facts = (self.dag_id, self.task_id, self.run_id, self.map_index, self.try_number)
        name = (self.dag_id or "dag", self.run_id or "run", self.task_id or "task")
        return DefaultMessage(subject, card.text(), ("notify", *facts, self.state), name, card.html())

    def facts(self) -> list[Fact]:
        """The rows of the table, leaving out what the context did not say."""
        end = self.end_date or dt.datetime.now(dt.timezone.utc)
        tries = f"{self.try_number} of {self.max_tries + 1}" if self.max_tries is not None else self.try_number
        rows: list[tuple[str, Any]] = [
            ("DAG", self.dag_id),
            ("Task", self.task_id),
            ("Map index", self.map_index if self.map_index >= 0 else None),
            ("Run", self.run_id),
            ("State", self.state),
            ("Try", tries if self.try_number is not None else None),
            ("When", _show(end)),
            ("Duration", _duration(end - self.start_date) if self.start_date else None),
            ("Reason", self.reason),
        ]
        facts = [Fact(label, str(value)) for label, value in rows if value not in (None, "")]
        if self.exception:
            facts.append(Fact("Exception", self.exception, code=True))
        if self.log_url:
            facts.append(Fact("Log", "Open the log", url=self.log_url))
        return facts


def _last_line(exception: Any) -> str | None:
    """``Type: the last line of the message`` (where a traceback's reader looks first), or the text given."""
    if exception in (None, ""):
        return None
    lines = str(exception).strip().splitlines()
    last = lines[-1].strip() if lines else ""
    if isinstance(exception, BaseException):
        return f"{type(exception).__name__}: {last}" if last else type(exception).__name__
    return last or None


def _duration(delta: dt.timedelta) -> str:
    seconds = max(0.0, delta.total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


# -- human in the loop -------------------------------------------------------------------------------------


def _is_hitl_task(task: Any) -> bool:
    # Duck-typed first so that no import happens for ordinary tasks (and none fails on Airflow 3.0).
    return task is not None and callable(getattr(task, "generate_link_to_ui", None))


def required_actions_url(context: Context | Mapping[str, Any]) -> str | None:
    """The link to the "Required Actions" page of the context's human-in-the-loop task instance, else ``None``.

    Built by the standard provider's ``HITLOperator.generate_link_to_ui_from_context`` against
    ``[api] base_url`` (default ``http://localhost:8080/``), with the task instance's ``map_index``.

    :raises AirflowVersionError: On an Airflow older than 3.1, which has no human-in-the-loop tasks.
    """
    task = context.get("task")
    if not _is_hitl_task(task) or context.get("task_instance") is None:
        return None
    require_airflow(HUMAN_IN_THE_LOOP)
    from airflow.providers.standard.operators.hitl import HITLOperator

    if not isinstance(task, HITLOperator):
        return None
    return HITLOperator.generate_link_to_ui_from_context(context=context, base_url=base_url())  # type: ignore[arg-type]


@dataclass(frozen=True)
class WaitingForInput:
    """A human-in-the-loop task that just started waiting: what it asks, the options, and where to answer."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int | None
    question: str
    details: str | None
    options: tuple[str, ...]
    url: str

    @classmethod
    def from_context(cls, context: Context | Mapping[str, Any]) -> WaitingForInput | None:
        """Read a human-in-the-loop task's context; ``None`` if its task is not one."""
        url = context.get(REQUIRED_ACTIONS_URL) or required_actions_url(context)
        if not url:
            return None
        task = context["task"]
        ti = context.get("task_instance")
        return cls(
            dag_id=str(getattr(ti, "dag_id", "")),
            run_id=str(getattr(ti, "run_id", "")),
            task_id=str(getattr(ti, "task_id", "")),
            map_index=int(getattr(ti, "map_index", -1) if getattr(ti, "map_index", None) is not None else -1),
            try_number=getattr(ti, "try_number", None),
            question=str(getattr(task, "subject", "") or ""),
            details=getattr(task, "body", None) or None,
            options=tuple(str(option) for option in getattr(task, "options", ()) or ()),
            url=str(url),
        )

    def default_message(self) -> DefaultMessage:
        """Subject and body with the question, the options and the link to answer it."""
        subject = f"[Airflow] {self.dag_id}.{self.task_id} needs your input: {self.question}"
        lines = [self.question, ""]
        if self.details:
            lines += [str(self.details).strip(), ""]
        if self.options:
            lines.append(f"Options: {', '.join(self.options)}")
        lines += [f"Respond here: {self.url}", "", f"DAG: {self.dag_id}", f"Task: {self.task_id}"]
        if self.map_index >= 0:
            lines.append(f"Map index: {self.map_index}")
        lines.append(f"Run: {self.run_id}")
        identity = ("input", self.dag_id, self.task_id, self.run_id, self.map_index, self.try_number)
        name = (self.dag_id, self.run_id, self.task_id)
        return DefaultMessage(subject=subject, text="\n".join(lines) + "\n", identity=identity, dry_run_name=name)
