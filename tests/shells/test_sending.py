"""sending.py, the one send path: a dry run writes the bytes a send sends, no id steers a file out of its folder, and
a request sent down it arrives as meant (rendered headers and lists read back, attachments as files, valid JSON)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from support.messages import composed
from support.sending import send

from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
from airflow_provider_smtpconn.merge.journal import journal_path
from airflow_provider_smtpconn.paths import safe_name, safe_path
from airflow_provider_smtpconn.sending import EmailRequest, deliver, send_email, write_dry_run

HOSTILE_IDS = ["..", "../../etc", "a/../../b", "/abs/path", ".hidden", "", "x" * 300, "tab\there", "\u2028"]


def test_a_dry_run_writes_exactly_the_bytes_a_send_sends(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    message = composed(to="a@example.org", bcc="hidden@example.org", subject="Same", text=".dot line\n",
                       attachments={"a.bin": b"\x00\x01" * 5000})  # fmt: skip
    written = Path(write_dry_run(message, ("dag", "run", "same")).eml_path or "")
    deliver(message, SmtpConnHook())

    (received,) = smtp_server.messages
    assert written.read_bytes() == received.data  # the server undid the dot-stuffing: the message's own bytes
    assert b"hidden@example.org" not in written.read_bytes()
    assert received.rcpt_tos == ["a@example.org", "hidden@example.org"]


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_no_dag_run_or_task_id_steers_a_dry_run_out_of_its_folder(hostile):
    root = Path(tempfile.gettempdir(), "smtpconn-dry-run").resolve()
    result = write_dry_run(composed(to="a@example.org", text="x"), (hostile, hostile, hostile))
    path = Path(result.eml_path or "").resolve()
    assert path.is_relative_to(root) and path.parent.parent.parent == root
    assert path.name.endswith(".eml") and path.is_file()


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_no_dag_run_or_task_id_steers_a_journal_out_of_its_folder(hostile, tmp_path):
    path = journal_path(tmp_path, hostile, hostile, hostile, 3).resolve()
    assert path.parent.parent.parent == tmp_path.resolve()
    assert path.name.endswith(".journal")


def test_safe_names_keep_what_is_readable_and_nothing_that_walks():
    assert safe_name("daily_report-v2.1") == "daily_report-v2.1"
    assert safe_name("..") == "_" and safe_name("../x") == "_x" and safe_name("") == "_"
    assert safe_path("/root", "a/b", "..", suffix=".eml") == Path("/root/a_b/_.eml")


# -- what a request sent down the path delivers ---------------------------------------------------------------


def test_rendered_headers_and_recipient_lists_are_read_back(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    send(to="['a@example.org', 'b@example.org']", headers="{'X-Run': 'r1'}")
    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["a@example.org", "b@example.org"]
    assert received.message["X-Run"] == "r1"


def test_an_eml_file_is_attached_as_a_file(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    send(attachments={"saved.eml": "Subject: old\r\n\r\nbody\r\n"})
    (part,) = smtp_server.messages[0].message.iter_attachments()
    assert part.get_content_type() == "application/octet-stream"
    assert part.get_payload(decode=True) == b"Subject: old\r\n\r\nbody\r\n"


def test_json_text_with_nan_becomes_valid_json(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    send(attachments={"filename": "d.json", "content": '{"x": NaN, "y": [1, Infinity]}'})
    (part,) = smtp_server.messages[0].message.iter_attachments()
    raw = part.get_payload(decode=True).decode()
    assert json.loads(raw, parse_constant=lambda c: pytest.fail(c)) == {"x": None, "y": [1, None]}


@pytest.mark.usefixtures("airflow_db")
def test_json_attachments_are_valid_json_with_nan_and_infinity_as_null(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    content = {"ratio": float("nan"), "limits": [float("inf"), -float("inf"), 1.5]}
    send_email(EmailRequest(to="a@example.org", text="x", attachments={"d.json": content}), SmtpConnHook())
    (received,) = smtp_server.messages
    (part,) = received.message.iter_attachments()
    raw = part.get_payload(decode=True).decode()
    assert "NaN" not in raw and "Infinity" not in raw
    assert json.loads(raw, parse_constant=lambda c: pytest.fail(f"bare {c}")) == {
        "ratio": None,
        "limits": [None, None, 1.5],
    }


def test_a_name_is_cut_at_100_bytes_not_characters():
    name = safe_name("\u6708" * 100)  # three bytes each in UTF-8
    assert len(name.encode()) <= 100 and name == "\u6708" * 33
    result = write_dry_run(composed(to="a@example.org", text="x"), ("\u6708" * 100,) * 3)
    assert Path(result.eml_path or "").is_file()


def test_an_attachment_limit_under_one_kib_is_refused():
    from airflow_provider_smtpconn.exceptions import InvalidMessageError
    from airflow_provider_smtpconn.sending import attachment_limit

    with pytest.raises(InvalidMessageError, match="max_attachment_mb 1e-300 must be at least"):
        attachment_limit(1e-300, SmtpConnHook())
