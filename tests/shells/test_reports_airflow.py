"""The report helpers in every message template of the package, through ``dag.test()``: the operator, the
notifier (templated and default messages) and the mail merge. What the server received is read back with
BeautifulSoup and ``csv``, not with this package.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import re

import pytest
from bs4 import BeautifulSoup
from support.airflow_helpers import run_dag, task_states

from airflow_provider_smtpconn.exceptions import TableError
from airflow_provider_smtpconn.notifications.smtp import SendEmailNotifier
from airflow_provider_smtpconn.operators.mail_merge import MailMergeOperator
from airflow_provider_smtpconn.operators.smtp import SendEmailOperator

pytestmark = pytest.mark.usefixtures("airflow_db")

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFElEQVR4nGNkYGBg+M/AwMDAxMAAAA0DAQDtmd4FAAAAAElFTkSuQmCC"
ROWS = [["East", 1200, 4609.9], ["West <b>", 3, None], ["North", 14, 0.5]]


def make_dag(dag_id: str, **kwargs):
    from airflow.sdk import DAG

    return DAG(dag_id, schedule=None, start_date=START, catchup=False, **kwargs)


def soup_of(message) -> BeautifulSoup:
    return BeautifulSoup(message.get_body(("html",)).get_content(), "html.parser")


def plain(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def cells(table) -> list[list[str]]:
    return [[td.get_text() for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]


def inline_parts(message) -> dict[str, object]:
    return {str(p["Content-ID"]).strip("<>"): p for p in message.walk() if p.get("Content-ID")}


def test_operator_templates_draw_tables_and_inline_images(smtp_server, smtp_conn):
    from airflow.sdk import task

    smtp_conn(smtp_server)
    with make_dag("report_operator") as dag:

        @task
        def rows():
            return ROWS

        @task
        def chart():
            return PNG_B64

        query, picture = rows(), chart()
        send = SendEmailOperator(
            task_id="send",
            to="team@example.org",
            subject="Sales for {{ dag.dag_id }}",
            text="Sales:\n{{ ti.xcom_pull(task_ids='rows') | email_table(columns=['region', 'orders', 'revenue'], "
            "max_rows=2, csv='sales.csv') }}{{ inline_image(ti.xcom_pull(task_ids='chart'), alt='Sales chart') }}",
            html="<h1>Sales</h1>{{ ti.xcom_pull(task_ids='rows') | email_table(columns=['region', 'orders', "
            "'revenue'], max_rows=2, csv='sales.csv') }}{{ inline_image(ti.xcom_pull(task_ids='chart'), "
            "alt='Sales chart') }}",
        )
        [query, picture] >> send
    dag_run = run_dag(dag)

    assert task_states(dag_run)["send"] == ("success", 1)
    (received,) = smtp_server.messages
    message = received.message
    soup = soup_of(message)
    assert [th.get_text() for th in soup.find_all("th")] == ["region", "orders", "revenue"]
    assert cells(soup.find("table")) == [["East", "1,200", "4,609.90"], ["West <b>", "3", ""]]
    assert "and 1 more row (all in sales.csv)" in soup.get_text()
    assert plain(message) == (
        "Sales:\nregion    orders   revenue\n--------  ------  --------\nEast       1,200  4,609.90\n"
        "West <b>       3\nand 1 more row (all in sales.csv)\n[Sales chart]\n"
    )
    (img,) = soup.find_all("img")
    assert img["alt"] == "Sales chart"
    (chart_part,) = inline_parts(message).values()
    assert img["src"] == f"cid:{str(chart_part['Content-ID']).strip('<>')}"
    assert chart_part.get_payload(decode=True) == base64.b64decode(PNG_B64)
    (attachment,) = [p for p in message.iter_attachments() if p.get_filename() == "sales.csv"]  # once, not twice
    assert list(csv.reader(io.StringIO(attachment.get_content()))) == [
        ["region", "orders", "revenue"],
        ["East", "1200", "4609.9"],
        ["West <b>", "3", ""],
        ["North", "14", "0.5"],
    ]


def test_native_rendering_still_writes_the_table_as_html(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    with make_dag("report_native", render_template_as_native_obj=True, params={"rows": ROWS}) as dag:
        SendEmailOperator(
            task_id="send", to="team@example.org", subject="Native", html="{{ params.rows | email_table }}"
        )
    run_dag(dag)

    (received,) = smtp_server.messages
    assert cells(soup_of(received.message).find("table"))[0] == ["East", "1,200", "4,609.90"]
    assert "East" in plain(received.message)


def test_a_bad_table_in_a_template_fails_the_task_at_once_and_nothing_is_sent(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    errors: list[BaseException] = []
    with make_dag("report_ragged", params={"rows": [[1, 2], [3]]}) as dag:
        SendEmailOperator(
            task_id="send",
            to="team@example.org",
            html="{{ params.rows | email_table(columns=['a', 'b']) }}",
            retries=2,
            on_failure_callback=lambda context: errors.append(context["exception"]),
        )
    dag_run = run_dag(dag)

    assert task_states(dag_run)["send"] == ("failed", 1)  # bad input: no retry
    assert smtp_server.messages == []
    (error,) = errors
    assert isinstance(error, TableError)
    assert str(error) == "rows: row 2 has 1 value but there are 2 columns; every row needs one per column."


def test_notifier_templates_have_the_helpers(smtp_server, smtp_conn):
    from airflow.sdk import task

    smtp_conn(smtp_server)
    notifier = SendEmailNotifier(
        to="oncall@example.org",
        subject="{{ ti.task_id }} done",
        html="{{ [{'task': ti.task_id, 'try': ti.try_number}] | email_table }}{{ inline_image(params.png) }}",
    )
    with make_dag("report_notifier", params={"png": PNG_B64}) as dag:

        @task(on_success_callback=notifier)
        def works():
            return 1

        works()
    run_dag(dag)

    (received,) = smtp_server.messages
    soup = soup_of(received.message)
    assert [th.get_text() for th in soup.find_all("th")] == ["task", "try"]
    assert cells(soup.find("table")) == [["works", "1"]]
    assert soup.find("img")["src"].removeprefix("cid:") in inline_parts(received.message)
    assert re.search(r"^works +1$", plain(received.message), re.MULTILINE)  # the derived text part


def test_the_default_failure_email_is_a_small_table(smtp_server, smtp_conn):
    from airflow.sdk import task

    smtp_conn(smtp_server)
    with make_dag("report_default_failure") as dag:

        @task(on_failure_callback=SendEmailNotifier(to="oncall@example.org"))
        def breaks():
            raise ValueError("first line\nthe source table is empty")

        breaks()
    dag_run = run_dag(dag)

    (received,) = smtp_server.messages
    message = received.message
    assert message["Subject"] == f"[Airflow] report_default_failure.breaks: failed ({dag_run.run_id})"
    soup = soup_of(message)
    assert soup.find("style") is None
    facts = {
        row.find_all("td")[0].get_text(): row.find_all("td")[1]
        for row in soup.find_all("tr")
        if len(row.find_all("td")) == 2
    }
    assert list(facts) == ["DAG", "Task", "Run", "State", "Try", "When", "Duration", "Exception", "Log"]
    assert facts["DAG"].get_text() == "report_default_failure"
    assert facts["Task"].get_text() == "breaks"
    assert facts["Run"].get_text() == dag_run.run_id
    assert facts["Try"].get_text() == "1 of 1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", facts["When"].get_text())
    assert re.fullmatch(r"\d+\.\d s", facts["Duration"].get_text())
    assert facts["Exception"].get_text() == "ValueError: the source table is empty"  # the last line
    assert facts["Log"].find("a")["href"].startswith("http")
    assert "Task breaks of DAG report_default_failure failed." in soup.get_text()
    text = plain(message)
    assert text.startswith("Task breaks of DAG report_default_failure failed.\n\n")
    for line in ("DAG: report_default_failure", "Task: breaks", "Try: 1 of 1", "Log: http"):
        assert line in text
    assert "Exception: ValueError: the source table is empty" in text


def test_each_merged_row_gets_its_own_table_and_image(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    customers = [
        {"id": 1, "email": "ann@example.org", "orders": 1200, "png": PNG_B64},
        {"id": 2, "email": "bob@example.org", "orders": 7, "png": PNG_B64},
    ]
    with make_dag("report_merge") as dag:
        MailMergeOperator(
            task_id="merge",
            rows=customers,
            row_key="id",
            to="{{ row.email }}",
            subject="Your orders",
            html="<style>p { color: #57606a }</style><p>Yours:</p>"
            "{{ [{'id': row.id, 'orders': row.orders}] | email_table(csv='orders-' ~ row.id ~ '.csv') }}"
            "{{ inline_image(row.png, alt='Your chart') }}",
        )
    dag_run = run_dag(dag)

    assert task_states(dag_run)["merge"] == ("success", 1)
    by_recipient = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
    for customer in customers:
        message = by_recipient[customer["email"]]
        soup = soup_of(message)
        assert soup.find("style") is None and "color: #57606a" in soup.find("p")["style"]
        assert cells(soup.find("table")) == [[str(customer["id"]), f"{customer['orders']:,}"]]
        assert soup.find("img")["src"].removeprefix("cid:") in inline_parts(message)
        names = [p.get_filename() for p in message.iter_attachments() if not p.get("Content-ID")]
        assert names == [f"orders-{customer['id']}.csv"]  # this row's file only
        assert "[Your chart]" in plain(message)
