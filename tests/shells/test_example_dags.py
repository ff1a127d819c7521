"""The DAGs in ``example_dags/``: they import cleanly in a DagBag, and each runs end to end with ``dag.test()``
against the aiosmtpd test server; the tests check what arrived, decoded. The deadline-alert and approval
examples are run in ``test_deadline_alerts.py`` and ``test_approvals.py``."""

from __future__ import annotations

import ast
import gzip
import json
import re
import struct
import zlib
from pathlib import Path

import pytest
from support.airflow_helpers import run_dag, task_states, xcom_value

pytestmark = pytest.mark.usefixtures("airflow_db")

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
DAG_IDS = {
    "example_report_after_sql",
    "example_attachments_from_xcom",
    "example_asset_producer",
    "example_asset_consumer",
    "example_deadline_alert",
    "example_approval_by_email",
    "example_mail_merge",
}


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(EXAMPLES), bundle_path=EXAMPLES)


def attachments_of(message) -> dict[str, bytes]:
    return {part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()}


def html_of(message) -> str:
    return message.get_body(("html",)).get_content()


# -- parsing --------------------------------------------------------------------------------------------------


def test_every_example_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == DAG_IDS
    files = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert files == [
        "example_approval_by_email.py",
        "example_attachments_from_xcom.py",
        "example_deadline_alert.py",
        "example_mail_merge.py",
        "example_report_after_sql.py",
        "example_trigger_then_notify.py",
    ]
    assert {Path(dag.fileloc).name for dag in dagbag.dags.values()} == set(files)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_every_example_says_what_it_shows_and_uses_smtpconn_default(path, dagbag):
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring and "What it shows" in docstring
    assert "smtpconn_default" in docstring
    dags = [dag for dag in dagbag.dags.values() if Path(dag.fileloc) == path]
    senders = [task for dag in dags for task in dag.tasks if hasattr(task, "smtp_conn_id")]
    senders += [notifier for dag in dags for task in dag.tasks for notifier in getattr(task, "notifiers", ())]
    conn_ids = {sender.smtp_conn_id for sender in senders}
    conn_ids |= {alert.callback.kwargs.get("smtp_conn_id") for dag in dags for alert in deadline_alerts(dag)}
    assert conn_ids == {"smtpconn_default"}


def deadline_alerts(dag) -> list:
    deadline = getattr(dag, "deadline", None)
    return [] if deadline is None else list(deadline) if isinstance(deadline, (list, tuple)) else [deadline]


# -- running --------------------------------------------------------------------------------------------------


REVENUE = [
    ["East", 2, 4609.9],
    ["Coast", 2, 2760.6],
    ["North", 3, 2233.8],
    ["West", 2, 2220.1],
    ["Central", 2, 1879.0],
    ["South", 2, 1200.0],
    ["Highlands", 1, 120.0],
    ["Islands", 1, 75.4],
]


def test_report_after_sql(dagbag, smtp_server, smtp_conn, monkeypatch, tmp_path):
    from bs4 import BeautifulSoup

    smtp_conn(smtp_server)
    db_file = tmp_path / "orders.db"
    monkeypatch.setenv("AIRFLOW_CONN_EXAMPLE_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(db_file)}))
    dag_run = run_dag(dagbag.dags["example_report_after_sql"])

    assert task_states(dag_run) == {
        "create_orders": ("success", 1),
        "revenue_by_region": ("success", 1),
        "revenue_chart": ("success", 1),
        "send_report": ("success", 1),
    }
    assert db_file.exists()  # the DAG made its own database
    (received,) = smtp_server.messages
    msg = received.message
    assert received.rcpt_tos == ["reports@example.org"]
    assert received.mail_from == "airflow@example.org"
    assert re.fullmatch(r"Revenue by region \(\d{4}-\d\d-\d\d\)", msg["Subject"])
    csv_rows = [line.split(",") for line in attachments_of(msg)["report.csv"].decode().splitlines()]
    assert csv_rows == [["region", "orders", "revenue"], *[[r, str(n), str(v)] for r, n, v in REVENUE]]
    soup = BeautifulSoup(html_of(msg), "html.parser")
    assert soup.find("style") is None  # the template's <style> block went into style attributes
    assert "font-size: 20px" in soup.find("h2")["style"]
    table = soup.find("table")
    assert [th.get_text() for th in table.find_all("th")] == ["region", "orders", "revenue"]
    body = [[td.get_text() for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]
    assert body == [[r, str(n), f"{v:,.2f}"] for r, n, v in REVENUE[:5]]
    assert "and 3 more rows (all in report.csv)" in soup.get_text()
    (img,) = soup.find_all("img")
    assert img["alt"] == "Bar chart: revenue by region"
    (chart,) = [p for p in msg.walk() if p.get("Content-ID") == f"<{img['src'].removeprefix('cid:')}>"]
    assert chart.get_content_type() == "image/png"
    assert chart.get_payload(decode=True).startswith(b"\x89PNG\r\n\x1a\n")
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # derived from the HTML: a text table
    assert re.search(r"^East +2 +4,609\.90$", text, re.MULTILINE)
    assert "[Bar chart: revenue by region]" in text


def test_report_after_sql_recipient_from_the_run_conf(dagbag, smtp_server, smtp_conn, monkeypatch, tmp_path):
    from bs4 import BeautifulSoup

    smtp_conn(smtp_server)
    db_file = tmp_path / "orders.db"
    monkeypatch.setenv("AIRFLOW_CONN_EXAMPLE_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(db_file)}))
    run_dag(dagbag.dags["example_report_after_sql"], run_conf={"to": "me@example.org", "preview_rows": 1})

    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["me@example.org"]
    soup = BeautifulSoup(html_of(received.message), "html.parser")
    assert len(soup.find("table").find("tbody").find_all("tr")) == 1
    assert "and 7 more rows (all in report.csv)" in soup.get_text()


def test_mail_merge_sends_each_customer_their_statement(dagbag, smtp_server, smtp_conn, monkeypatch, tmp_path):
    smtp_conn(smtp_server)
    monkeypatch.setenv("SMTPCONN_MAIL_MERGE_JOURNAL_DIR", str(tmp_path / "journal"))
    db_file = tmp_path / "customers.db"
    monkeypatch.setenv("AIRFLOW_CONN_EXAMPLE_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(db_file)}))
    dag_run = run_dag(dagbag.dags["example_mail_merge"])

    assert task_states(dag_run) == {"create_customers": ("success", 1), "send_statements": ("success", 1)}
    assert smtp_server.connections == 1
    received = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
    assert sorted(received) == ["ada@example.org", "grace@example.org", "zoe@example.org"]
    zoe, ada = received["zoe@example.org"], received["ada@example.org"]
    assert zoe["To"].addresses[0].display_name == "Zoë Ångström"
    assert re.fullmatch(r"Your statement for \w+ \d{4}", ada["Subject"])
    assert "your Pro plan had 2 invoice(s) this month, 200.50 EUR in total" in html_of(ada)
    assert attachments_of(ada) == {"statement-1.csv": b"day,amount\n2026-01-03,120.50\n2026-01-17,80.00\n"}
    assert attachments_of(zoe) == {"statement-3.csv": b"day,amount\n2026-01-21,0.00\n"}
    result = xcom_value(dag_run, "send_statements")
    assert (result["sent"], result["total"]) == (3, 3)
    ids = {m.rcpt_tos[0]: m.message_id for m in smtp_server.messages}
    assert {row[0]: row[2] for row in result["outcomes"]} == {
        "1": ids["ada@example.org"],
        "2": ids["grace@example.org"],
        "3": ids["zoe@example.org"],
    }


def test_attachments_from_xcom(dagbag, smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    dag_run = run_dag(dagbag.dags["example_attachments_from_xcom"])

    assert {state for state, _ in task_states(dag_run).values()} == {"success"}
    (received,) = smtp_server.messages
    msg = received.message
    assert received.rcpt_tos == ["team@example.org", "analytics@example.org"]
    assert msg["Subject"] == "Weekly signups with attachments from XComs"
    files = attachments_of(msg)
    assert set(files) == {"summary.txt", "export.csv.gz", "daily.csv", "notes.md", "metrics.json"}
    assert files["summary.txt"] == b"4 days, 42 signups.\nBusiest day: 2026-01-07.\n"
    assert gzip.decompress(files["export.csv.gz"]) == (
        b"day,signups\n2026-01-05,12\n2026-01-06,7\n2026-01-07,19\n2026-01-08,4\n"
    )
    gz_part = next(p for p in msg.iter_attachments() if p.get_filename() == "export.csv.gz")
    assert gz_part.get_content_type() == "application/gzip"
    assert files["daily.csv"].splitlines()[:2] == [b"day,signups,revenue", b"2026-01-05,12,310.00"]
    assert files["notes.md"].startswith(b"# Notes")
    assert json.loads(files["metrics.json"]) == {"days": 4, "signups": 42}

    assert 'src="cid:chart"' in html_of(msg)
    (chart,) = [p for p in msg.get_body(("related",)).iter_parts() if p.get("Content-ID")]
    assert chart["Content-ID"] == "<chart>"
    assert chart.get_content_type() == "image/png"
    png = chart.get_content()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (68, 48)
    idat_length = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    assert len(zlib.decompress(png[41 : 41 + idat_length])) == height * (1 + width * 3)


def test_asset_producer_updates_the_asset_and_sends_nothing(dagbag, smtp_server, smtp_conn):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    smtp_conn(smtp_server)
    dag_run = run_dag(dagbag.dags["example_asset_producer"])

    assert task_states(dag_run) == {"refresh_orders": ("success", 1)}
    assert smtp_server.connections == 0
    with create_session() as session:
        events = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == dag_run.run_id)).all()
        assert [(e.source_dag_id, e.source_task_id, e.asset.name) for e in events] == [
            ("example_asset_producer", "refresh_orders", "example_orders")
        ]


def test_asset_producer_failing_on_purpose_notifies_oncall(dagbag, smtp_server, smtp_conn):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    smtp_conn(smtp_server)
    dag_run = run_dag(dagbag.dags["example_asset_producer"], run_conf={"fail_on_purpose": True})

    assert task_states(dag_run) == {"refresh_orders": ("failed", 1)}
    (received,) = smtp_server.wait_for(1)
    msg = received.message
    assert received.rcpt_tos == ["oncall@example.org"]
    assert msg["Subject"] == "[Airflow] example_asset_producer.refresh_orders failed (try 1)"
    assert msg["Importance"] == "high"
    text = msg.get_body(("plain",)).get_content()
    for expected in ("DAG: example_asset_producer", "Task: refresh_orders", f"Run: {dag_run.run_id}", "State: failed"):
        assert expected in text
    assert "refresh_orders failed on purpose" in text
    with create_session() as session:  # a failed refresh does not update the Asset
        assert session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == dag_run.run_id)).all() == []


def test_asset_consumer_is_scheduled_on_the_asset_and_notifies(dagbag, smtp_server, smtp_conn):
    from airflow.sdk import Asset

    consumer = dagbag.dags["example_asset_consumer"]
    producer_outlets = dagbag.dags["example_asset_producer"].get_task("refresh_orders").outlets
    assert [a.name for a in producer_outlets if isinstance(a, Asset)] == ["example_orders"]
    assert list(consumer.timetable.asset_condition.objects) == [producer_outlets[0]]

    smtp_conn(smtp_server)
    dag_run = run_dag(consumer)  # dag.test() runs one DagRun: the consumer is run directly, as a manual run

    assert task_states(dag_run) == {"describe_updates": ("success", 1), "notify": ("success", 1)}
    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["team@example.org"]
    assert received.message["Subject"] == "Orders are fresh: example_asset_consumer ran"
    assert received.message.get_content().strip() == "A manual run: no Asset event triggered it."
