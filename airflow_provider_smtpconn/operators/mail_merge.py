"""``MailMergeOperator``: one personalised email per row, over one SMTP session or a few side by side, never twice.

Only ``BaseOperator`` is imported at parse time; the merge's parts, the hook and the session load when it runs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.version_compat import BaseOperator

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

#: The message parameters, rendered once per row (the template sees ``row`` besides the task context).
ROW_TEMPLATE_FIELDS = (
    "to", "cc", "bcc", "reply_to", "from_email", "subject", "text", "html", "attachments", "importance", "headers",
    "list_unsubscribe", "dsn",
)  # fmt: skip
JOURNAL_DIR_ENV = "SMTPCONN_MAIL_MERGE_JOURNAL_DIR"


def chunk_rows(rows: Sequence[Any], size: int) -> list[list[Any]]:
    """Split ``rows`` into lists of at most ``size`` rows: ``MailMergeOperator.partial(...).expand(rows=...)``
    then runs one task instance (one SMTP session) per list.

    :raises InvalidMessageError: if ``size`` is not a whole number above 0 or ``rows`` is not a list.
    """
    from airflow_provider_smtpconn.merge.rows import chunk_rows as chunk

    return chunk(rows, size)


class MailMergeOperator(BaseOperator):
    """Send one personalised email per row over one SMTP session (or ``sessions`` side by side), pipelined when
    the server offers PIPELINING; a retry never resends an accepted row.

    Rows: ``rows`` (a list of dicts, or a list of lists plus ``columns``, often ``upstream.output``) or ``sql``
    run through the common-sql hook of ``conn_id`` (fetched ``batch_size`` rows at a time).

    The message parameters are those of ``SendEmailOperator`` and are rendered with Jinja once per row; the
    template sees the row as ``row`` (column -> value) besides the task context: ``to="{{ row.email }}"``, and
    the report helpers ``email_table`` and ``inline_image(...)``, whose parts go with that row's message.
    ``list_unsubscribe`` too, so each row gets its own one-click link: ``"https://example.org/u?id={{ row.id }}"``.
    With ``dsn`` (see ``SendEmailOperator``), each row's ENVID is its row key unless ``dsn`` gives one, so a
    bounce names the row it is about.

    :param rows: The rows (templated). :param columns: Column names for rows given as lists (templated).
    :param sql: A query whose rows are the merge's rows (templated); with ``conn_id`` and ``parameters``.
    :param conn_id: The database connection for ``sql`` (any common-sql hook) (templated).
    :param parameters: Query parameters for ``sql`` (templated). :param batch_size: Rows fetched at a time.
    :param row_key: The column that identifies a row; default: its position (0, 1, ...). It names the row in
        errors and results and makes its Message-ID, which stays the same across retries.
    :param on_bad_row: ``fail`` (default): if any row cannot become a message, nothing is sent and the error
        lists the first bad rows by key; ``skip``: bad rows are reported as skipped, the others sent.
    :param max_failures: Rows refused, failed or unknown that are tolerated: a count (``int``), a fraction of the
        rows (``float`` below 1), or ``None`` for no limit. When exceeded, the merge stops and the task fails.
    :param messages_per_session: Start a new SMTP session after this many messages (relays often cap it); per
        session.
    :param max_per_minute: Send at most this many messages a minute, evenly spaced: for the whole task, over
        every session.
    :param sessions: How many SMTP sessions send side by side (1 to 10): each its own connection, with one
        journal and one pacing for all.
    :param report_path: Also write every row's outcome as CSV here: a local path or an object storage URL
        such as ``s3://bucket/merge-{{ ds }}.csv`` (templated).
    :param journal_dir: Keep the journal of accepted rows in files here (or ``$SMTPCONN_MAIL_MERGE_JOURNAL_DIR``);
        default: Airflow's task state store (3.3+), else ``$AIRFLOW_HOME/smtpconn/mail-merge`` (see the README).
    :param journal_batch_size: Rows per task state store write (1 to 10,000), named before the first is sent:
        after a crash at most this many rows are in doubt, reported ``unknown`` and never resent.
    :param journal_fsync: Flush each journal file line to disk (survives a machine crash, not only a killed worker).
    :param max_xcom_outcomes: List at most this many per-row outcomes in the XCom (the CSV has all of them).
    :param inline_css: Move the rules of a ``<style>`` block in ``html`` into ``style`` attributes (default
        ``True``; only when there is a ``<style>`` block).
    :param smtp_conn_id: The ``smtpconn`` connection (templated).
    :return: Counts (``sent``, ``refused``, ``failed``, ``unknown``, ``skipped``, ``total``) and ``outcomes``:
        ``[row_key, status, message_id, try_number, detail]`` per row.
    :raises BadRowsError: a row is bad and ``on_bad_row`` is ``fail`` (nothing was sent).
    :raises TooManyFailuresError: more rows failed than ``max_failures`` allows.
    """

    template_fields: Sequence[str] = (
        "rows",
        "columns",
        "sql",
        "conn_id",
        "parameters",
        "report_path",
        "journal_dir",
        "smtp_conn_id",
    )
    template_fields_renderers = {"sql": "sql", "rows": "json", "parameters": "json"}
    template_ext = (".sql",)
    #: Rendered per row, not by Airflow's own pass; a ``text``/``html`` ending in these names a template file.
    row_template_fields = ROW_TEMPLATE_FIELDS
    row_template_ext = (".html", ".txt", ".j2")
    ui_color = "#e6f0ff"

    def __init__(
        self,
        *,
        rows: Any = None,
        columns: list[str] | None = None,
        sql: str | None = None,
        conn_id: str | None = None,
        parameters: Any = None,
        batch_size: int = 1000,
        row_key: str | None = None,
        to: str | list[str] | None = None,
        cc: str | list[str] | None = None,
        bcc: str | list[str] | None = None,
        reply_to: str | list[str] | None = None,
        from_email: str | None = None,
        subject: str = "",
        text: str | None = None,
        html: str | None = None,
        attachments: Any = None,
        importance: str | None = None,
        headers: dict[str, Any] | None = None,
        list_unsubscribe: str | list[str] | None = None,
        dsn: dict[str, Any] | None = None,
        on_bad_row: str = "fail",
        max_failures: int | float | None = 0.1,
        messages_per_session: int | None = None,
        max_per_minute: float | None = None,
        sessions: int = 1,
        max_attachment_mb: float | None = None,
        report_path: str | None = None,
        journal_dir: str | None = None,
        journal_batch_size: int = 50,
        journal_fsync: bool = False,
        max_xcom_outcomes: int = 10_000,
        inline_css: bool = True,
        smtp_conn_id: str = "smtpconn_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rows, self.columns, self.sql, self.conn_id = rows, columns, sql, conn_id
        self.parameters, self.batch_size, self.row_key = parameters, batch_size, row_key
        self.to, self.cc, self.bcc, self.reply_to, self.from_email = to, cc, bcc, reply_to, from_email
        self.subject, self.text, self.html, self.attachments = subject, text, html, attachments
        self.importance, self.headers, self.list_unsubscribe = importance, headers, list_unsubscribe
        self.dsn = dsn
        self.on_bad_row, self.max_failures = on_bad_row, max_failures
        self.messages_per_session, self.max_per_minute = messages_per_session, max_per_minute
        self.sessions = sessions
        self.max_attachment_mb, self.report_path = max_attachment_mb, report_path
        self.journal_dir, self.journal_fsync = journal_dir, journal_fsync
        self.journal_batch_size = journal_batch_size
        self.max_xcom_outcomes, self.smtp_conn_id = max_xcom_outcomes, smtp_conn_id
        self.inline_css = inline_css

    def execute(self, context: Context) -> dict[str, Any]:
        """Check every row, then send each one not accepted by an earlier try; return the counts and outcomes."""
        from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
        from airflow_provider_smtpconn.merge.outcomes import Outcomes
        from airflow_provider_smtpconn.merge.pacing import RateLimiter
        from airflow_provider_smtpconn.merge.runner import Merge

        ti = context["ti"]
        map_index = -1 if getattr(ti, "map_index", None) is None else ti.map_index
        hook = SmtpConnHook(smtp_conn_id=self.smtp_conn_id)
        identity = (ti.dag_id, ti.task_id, ti.run_id, map_index)
        hook.dkim_signer  # noqa: B018  # a DKIM key that cannot be used fails the task before any row is read
        signing = {"on": False}  # the check pass only checks each row; the RSA signature per row waits for the send
        with Outcomes() as outcomes, self._open_journal(context, identity) as journal:
            merge = Merge(
                rows=self._row_source(),
                prepare=self._message_factory(context, hook, identity, signing),
                open_session=hook.new_session,
                journal=journal,
                limiter=RateLimiter(self.max_per_minute),
                sessions=self.sessions,
                messages_per_session=self.messages_per_session,
                row_key=self.row_key,
                on_bad_row=str(self.on_bad_row).strip().lower(),
                max_failures=self.max_failures,
            )
            _ = hook.settings  # every connection field checked here, once, before the sessions share it
            merge.done = journal.load()
            self.log.info("Mail merge journal: %s; %d rows done by earlier tries.", journal.where, len(merge.done))
            check = merge.check()
            signing["on"] = True
            self.log.info("Checked %d rows: %d to send, %d bad.", check.rows, check.valid, check.bad)
            try:
                merge.send_all(outcomes, check)
            finally:
                self._write_report(outcomes)
            summary = outcomes.summary(self.max_xcom_outcomes)
        self.log.info("Mail merge done: %s.", {k: summary[k] for k in ("sent", "refused", "failed", "unknown")})
        return summary

    # -- the parts execute wires together ---------------------------------------------------------------

    def _row_source(self) -> Any:
        from airflow_provider_smtpconn.exceptions import InvalidMessageError
        from airflow_provider_smtpconn.merge.rows import SpooledRows, XComRows

        if (self.sql is None) == (self.rows is None):
            raise InvalidMessageError(
                "Give the rows either as rows (a list) or as sql with conn_id, not both or neither."
            )
        if self.rows is not None:
            return XComRows(_literal_rows(self.rows), self.columns)
        if not self.conn_id:
            raise InvalidMessageError("sql needs conn_id: the database connection to run it on.")
        return SpooledRows(self._fetch_sql)

    def _fetch_sql(self) -> tuple[list[str], Any]:
        """Run ``sql`` on ``conn_id`` through its common-sql hook; the columns and an iterator of row batches."""
        from airflow.providers.common.sql.hooks.sql import DbApiHook

        from airflow_provider_smtpconn.exceptions import InvalidMessageError
        from airflow_provider_smtpconn.version_compat import BaseHook

        db_hook = BaseHook.get_connection(str(self.conn_id)).get_hook()
        if not isinstance(db_hook, DbApiHook):
            raise InvalidMessageError(f"conn_id {self.conn_id!r} is not a database connection with a common-sql hook.")
        connection = db_hook.get_conn()
        cursor = connection.cursor()
        try:
            cursor.execute(self.sql, self.parameters) if self.parameters else cursor.execute(self.sql)
            columns = [d[0] for d in cursor.description or ()]
        except BaseException:
            cursor.close()
            connection.close()
            raise

        def batches() -> Any:
            try:
                while batch := cursor.fetchmany(self.batch_size):
                    yield batch
            finally:
                cursor.close()
                connection.close()

        return columns, batches()

    def _message_factory(
        self, context: Context, hook: Any, identity: tuple[Any, ...], signing: dict[str, bool] | None = None
    ) -> Any:
        """``prepare(key, row) -> WireMessage``: render the fields for the row, then check and compose them."""
        from airflow_provider_smtpconn.exceptions import InvalidMessageError
        from airflow_provider_smtpconn.merge.templates import compile_field, variables_for
        from airflow_provider_smtpconn.message.template_helpers import TemplateParts, template_environments, with_parts

        parts = TemplateParts()  # the tables' CSV files and the inline images of the row being rendered
        text_env, html_env = template_environments(self.get_template_env(), parts)
        fields = {
            name: compile_field(
                name, getattr(self, name), html_env if name == "html" else text_env,
                self.row_template_ext if name in ("text", "html") else (),
                resolve=lambda value: _resolve(value, context),
            )
            for name in self.row_template_fields
        }  # fmt: skip
        variables = variables_for(text_env, context)
        from airflow_provider_smtpconn.sending import attachment_limit

        max_mb = attachment_limit(self.max_attachment_mb, hook) / (1024 * 1024)  # checked once, not per row
        default_sender: list[str | None] = []

        def prepare(key: str, row: Any) -> Any:
            variables["row"] = row
            parts.clear()
            try:
                values = {name: field.render(variables) for name, field in fields.items()}
            except InvalidMessageError:
                raise
            except Exception as exc:  # a template error in one row is that row's problem
                raise InvalidMessageError(f"rendering failed: {type(exc).__name__}: {exc}") from None
            values["attachments"] = with_parts(values["attachments"], parts.attachments)
            values["inline_css"] = self.inline_css
            if not values["from_email"]:
                if not default_sender:
                    default_sender.append(hook.from_email)  # read once, not per row
                values["from_email"] = default_sender[0]
            return _compose_row(values, hook, (*identity, key), max_mb, sign=signing is None or signing["on"])

        return prepare

    def _write_report(self, outcomes: Any) -> None:
        if not self.report_path:
            return
        path = str(self.report_path)
        if "://" in path:
            from airflow_provider_smtpconn.version_compat import ObjectStoragePath

            with ObjectStoragePath(path).open("w", newline="", encoding="utf-8") as file:
                outcomes.write_csv(file)
        else:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w", newline="", encoding="utf-8") as file:
                outcomes.write_csv(file)
        self.log.info("Wrote the outcome of every row to %s.", path)

    def _open_journal(self, context: Context, identity: tuple[Any, ...]) -> Any:
        """The task state store's journal where Airflow has one and no folder is given; else the file journal."""
        from airflow_provider_smtpconn.merge import journal as files
        from airflow_provider_smtpconn.merge.state_store_journal import StateStoreJournal, check_batch_size
        from airflow_provider_smtpconn.version_compat import conf, has_task_state_store

        batch_size, try_number = check_batch_size(self.journal_batch_size), context["ti"].try_number
        folder_given = bool(self.journal_dir or os.environ.get(JOURNAL_DIR_ENV))
        store = context.get("task_state_store") if has_task_state_store() else None
        if store is not None and not folder_given:
            limit = conf.getint("state_store", "max_value_storage_bytes", fallback=0)
            return StateStoreJournal(store, try_number, batch_size=batch_size, identity=identity, max_value_bytes=limit)
        dag_id, task_id, run_id, map_index = identity
        path = files.journal_path(self.journal_folder(), dag_id, run_id, task_id, map_index)
        if not folder_given:
            self.log.warning(files.ON_THIS_WORKER_ONLY, path, JOURNAL_DIR_ENV)
        return files.Journal(path, try_number, fsync=self.journal_fsync)

    def journal_folder(self) -> str:
        """Where this operator's file journals live (see ``journal_dir``)."""
        home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
        return str(self.journal_dir or os.environ.get(JOURNAL_DIR_ENV) or os.path.join(home, "smtpconn", "mail-merge"))


def _literal_rows(rows: Any) -> Any:
    """Rows that Jinja rendered to text (an ``xcom_pull`` without ``render_template_as_native_obj``)."""
    if isinstance(rows, str):
        from airflow_provider_smtpconn.message.read_back import read_back

        return read_back(rows, "rows")
    return rows


def _resolve(value: Any, context: Any) -> Any:
    """An upstream XCom reference (``task.output``) inside a per-row field, resolved once."""
    resolve = getattr(value, "resolve", None)
    if resolve is not None and value.__class__.__module__.startswith("airflow."):
        return resolve(context)
    return value


def _compose_row(
    values: dict[str, Any], hook: Any, identity: tuple[Any, ...], max_mb: float, *, sign: bool = True
) -> Any:
    """One row's rendered fields -> its ``WireMessage``, through the one send path's ``prepare_email`` (the same
    checks and errors as ``SendEmailOperator``); signed with DKIM if ``sign`` and the connection says so. The row
    key is the last part of ``identity``, and the DSN ENVID when ``dsn`` gives none.
    """
    from airflow_provider_smtpconn.sending import EmailRequest, prepare_email

    request = EmailRequest(**values, max_attachment_mb=max_mb)
    return prepare_email(request, hook, identity=identity, sign=sign, envid=str(identity[-1]))
