"""sending.py, the one send path: a dry run writes the bytes a send sends, and no id steers a file out of its folder."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from support.messages import composed

from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
from airflow_provider_smtpconn.merge.journal import journal_path
from airflow_provider_smtpconn.paths import safe_name, safe_path
from airflow_provider_smtpconn.sending import deliver, write_dry_run

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
