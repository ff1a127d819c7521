"""Template rendering of every templated field, without a database, and attachment paths never read as templates."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_provider_smtpconn.notifications.smtp import SendEmailNotifier
from airflow_provider_smtpconn.operators.smtp import SendEmailOperator

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def templates(tmp_path):
    (tmp_path / "body.html").write_text("<p>Hello {{ params.who }}</p>")
    (tmp_path / "body.txt").write_text("Hello {{ params.who }} as text")
    (tmp_path / "report.html").write_text("<h1>an attachment, {{ not rendered }}</h1>")
    return tmp_path


def make_operator(templates, **overrides):
    from airflow.sdk import DAG

    with DAG(
        "templating", schedule=None, start_date=START, template_searchpath=[str(templates)], params={"who": "Ada"}
    ) as dag:
        params = {
            "task_id": "send",
            "to": "{{ params.who | lower }}@example.org",
            "cc": ["cc-{{ ds }}@example.org"],
            "bcc": "bcc-{{ ds_nodash }}@example.org",
            "reply_to": "reply-{{ params.who }}@example.org",
            "from_email": "{{ params.who }} <from@example.org>",
            "subject": "Report {{ ds }}",
            "text": "body.txt",
            "html": "body.html",
            "attachments": ["report.html", "{{ ds }}.csv", {"filename": "{{ ds }}.json", "path": "x.html"}],
            "importance": "{{ 'high' }}",
            "headers": {"X-Run": "{{ ds }}"},
            "on_refused": "{{ 'warn' }}",
            "max_attachment_mb": "{{ 2 + 3 }}",
            "smtp_conn_id": "conn_{{ params.who }}",
        }
        params.update(overrides)
        op = SendEmailOperator(**params)
    return dag, op


def context_for(dag, op):
    return {"ds": "2026-01-01", "ds_nodash": "20260101", "params": dag.params, "dag": dag, "task": op}


def test_every_templated_field_is_rendered(templates):
    dag, op = make_operator(templates)
    op.render_template_fields(context_for(dag, op))

    assert op.to == "ada@example.org"
    assert op.cc == ["cc-2026-01-01@example.org"]
    assert op.bcc == "bcc-20260101@example.org"
    assert op.reply_to == "reply-Ada@example.org"
    assert op.from_email == "Ada <from@example.org>"
    assert op.subject == "Report 2026-01-01"
    assert op.text == "Hello Ada as text"  # .txt body: rendered from the template file
    assert op.html == "<p>Hello Ada</p>"  # .html body: rendered from the template file
    assert op.importance == "high"
    assert op.headers == {"X-Run": "2026-01-01"}
    assert op.on_refused == "warn"
    assert op.max_attachment_mb == "5"
    assert op.smtp_conn_id == "conn_Ada"
    # Attachment names are rendered as Jinja but never loaded as template files, even report.html.
    assert op.attachments == ["report.html", "2026-01-01.csv", {"filename": "2026-01-01.json", "path": "x.html"}]
    assert all(type(v) is str for v in (op.attachments[0], op.attachments[1], op.attachments[2]["path"]))


def test_attachment_named_like_a_template_survives_parse_time_template_resolution(templates):
    dag, op = make_operator(templates, attachments="report.html")
    dag.resolve_template_files()  # what the DAG processor does when it parses the file

    assert op.attachments == "report.html"
    assert op.html == "<p>Hello {{ params.who }}</p>"  # bodies do become the template's source, as in Airflow
    op.render_template_fields(context_for(dag, op))
    assert op.attachments == "report.html"


def test_notifier_fields_are_templated_too(templates):
    notifier = SendEmailNotifier(to="{{ params.who }}@example.org", subject="{{ ds }}", attachments=["report.html"])
    notifier.render_template_fields({"ds": "2026-01-01", "params": {"who": "ada"}})
    assert notifier.to == "ada@example.org"
    assert notifier.subject == "2026-01-01"
    assert notifier.attachments == ["report.html"]


def test_templated_fields_are_declared_with_renderers():
    assert set(SendEmailOperator.template_fields) >= {
        "to", "cc", "bcc", "reply_to", "from_email", "subject", "text", "html", "attachments",
        "importance", "headers", "on_refused", "max_attachment_mb", "smtp_conn_id",
    }  # fmt: skip
    assert "dry_run" not in SendEmailOperator.template_fields
    assert SendEmailOperator.template_fields_renderers["html"] == "html"
    assert SendEmailOperator.template_ext == (".html", ".txt", ".j2")
