"""``smtpconn convert-connection``: an official ``smtp`` connection read through Airflow and printed as the
equivalent ``smtpconn`` one, then that connection used to send to the test server.

The expected values are the official hook's (``airflow/providers/smtp/hooks/smtp.py``): ``disable_ssl`` and
``disable_tls`` default to false, so SSL (implicit TLS) is on unless switched off; the port defaults to smtplib's
(465 with SSL, else 25); ``timeout`` 30 and ``retry_limit`` 5.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_smtpconn.cli import main
from airflow_provider_smtpconn.cli.convert import OfficialConnection, convert

SECRET = "s3cr3t-official-pw"
CLIENT_SECRET = "client-secret-value-42"


def official(monkeypatch, conn_id="smtp_default", conn_type="smtp", **fields) -> None:
    """Define an Airflow connection through ``AIRFLOW_CONN_<ID>`` (JSON form)."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": conn_type, **fields}))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["convert-connection", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def printed_connection(out: str) -> tuple[str, dict]:
    """The ``AIRFLOW_CONN_<ID>`` line's name and JSON value, read back as a shell would."""
    (line,) = [line for line in out.splitlines() if line.startswith("AIRFLOW_CONN_")]
    name, _, value = line.partition("=")
    (text,) = shlex.split(value)
    return name, json.loads(text)


def notes(out: str) -> list[str]:
    return [line[2:] for line in out.splitlines()[1:] if line.startswith("# ")]


@pytest.mark.parametrize(
    ("extra", "port", "tls_mode", "expected_port"),
    [
        pytest.param({}, None, "implicit", 465, id="official-defaults-are-SSL"),
        pytest.param({"disable_ssl": True}, None, "starttls", 25, id="STARTTLS"),
        pytest.param({"disable_ssl": True}, 587, "starttls", 587, id="STARTTLS-587"),
        pytest.param({"disable_ssl": True, "disable_tls": True}, None, "none", 25, id="both-off"),
        pytest.param({"disable_tls": True}, 465, "implicit", 465, id="SSL-without-STARTTLS"),
    ],
)
def test_each_combination_of_the_official_tls_booleans(monkeypatch, capsys, extra, port, tls_mode, expected_port):
    official(monkeypatch, host="smtp.example.com", login="reports@example.com", password=SECRET, extra=extra, port=port)

    code, out, err = run(capsys, "smtp_default")

    assert (code, err) == (0, "")
    name, value = printed_connection(out)
    assert name == "AIRFLOW_CONN_SMTP_DEFAULT"
    assert value == {
        "conn_type": "smtpconn",
        "host": "smtp.example.com",
        "port": expected_port,
        "login": "reports@example.com",
        "password": "***",
        "extra": {"tls_mode": tls_mode, "timeout": 30, "retry_limit": 5},
    }
    assert SECRET not in out
    (command,) = [line for line in out.splitlines() if line.startswith("airflow connections add")]
    words = shlex.split(command)
    assert words[3:6] == ["smtp_default", "--conn-type", "smtpconn"]
    assert words[words.index("--conn-port") + 1] == str(expected_port)
    assert json.loads(words[words.index("--conn-extra") + 1]) == value["extra"]
    if tls_mode == "none":  # the official hook sends the password in plain text; smtpconn refuses unless allowed
        assert any("allow_plaintext_auth" in note for note in notes(out))
    else:
        assert notes(out) == []


def test_oauth2_client_credentials_become_the_microsoft_token_source(monkeypatch, capsys):
    extra = {
        "auth_type": "oauth2",
        "disable_ssl": True,
        "from_email": "Reports <reports@contoso.example>",
        "client_id": "app-id",
        "client_secret": CLIENT_SECRET,
        "tenant_id": "contoso.example",
    }
    official(monkeypatch, host="smtp.office365.com", port=587, password=SECRET, extra=extra)

    code, out, _ = run(capsys, "smtp_default")

    assert code == 0
    _, value = printed_connection(out)
    assert value["login"] == "reports@contoso.example"  # the official hook's OAuth2 user: login, else from_email
    assert "password" not in value
    assert value["extra"] == {
        "from_email": "Reports <reports@contoso.example>",
        "tls_mode": "starttls",
        "auth_type": "xoauth2",
        "oauth2_provider": "microsoft",
        "tenant_id": "contoso.example",
        "client_id": "app-id",
        "client_secret": "***",
        "oauth2_scope": "https://outlook.office.com/.default",  # the official default, kept
        "timeout": 30,
        "retry_limit": 5,
    }
    assert notes(out) == ["The password is not used with auth_type oauth2, so it is left out."]
    assert CLIENT_SECRET not in out and SECRET not in out

    code, out, _ = run(capsys, "smtp_default", "--show-secrets", "--new-conn-id", "smtpconn_default")
    name, value = printed_connection(out)
    assert (name, value["extra"]["client_secret"]) == ("AIRFLOW_CONN_SMTPCONN_DEFAULT", CLIENT_SECRET)


def test_oauth2_access_token_and_the_official_default_tenant(monkeypatch, capsys):
    official(
        monkeypatch, host="h.example", login="me@example.com", extra={"auth_type": "oauth2", "access_token": "tok"}
    )
    _, out, _ = run(capsys, "smtp_default")
    _, value = printed_connection(out)
    assert value["extra"]["auth_type"] == "xoauth2" and value["extra"]["access_token"] == "***"

    official(
        monkeypatch, host="h.example", login="me@example.com", extra={"client_id": "a", "client_secret": CLIENT_SECRET}
    )
    _, out, _ = run(capsys, "smtp_default")
    _, value = printed_connection(out)
    assert value["extra"]["tenant_id"] == "common"
    first, second = notes(out)
    assert first.startswith("auth_type is not set, but client_id and client_secret are: converted as auth_type oauth2")
    assert second.startswith("tenant_id is 'common', where Microsoft refuses the client-credentials grant")


def test_a_missing_connection_is_one_sentence_and_exit_2(capsys):
    code, out, err = run(capsys, "no_such_connection")

    assert (code, out) == (2, "")
    assert err == (
        "FAILED: Airflow has no connection 'no_such_connection': check the id with `airflow connections list`.\n"
    )


def test_a_connection_of_another_type_is_one_sentence_and_exit_2_without_its_secret(monkeypatch, capsys):
    official(monkeypatch, conn_id="web", conn_type="http", host="api.example.com", password=SECRET)

    code, out, err = run(capsys, "web", "--show-secrets")

    assert (code, out) == (2, "")
    assert err == (
        "FAILED: Connection 'web' is of type 'http', not 'smtp': convert-connection reads connections of the "
        "official SMTP provider only.\n"
    )


def test_what_cannot_be_mapped_is_one_line_each():
    conn = OfficialConnection(
        "smtp_default",
        "smtp",
        host="smtp.example.com",
        login="nobody@example.com",
        extra={
            "disable_ssl": "false",  # text: bool() makes it true, so SSL is off
            "ssl_context": "none",
            "subject_template": "/t/subject.j2",
            "html_content_template": "/t/body.html",
            "timeout": 0,
            "retry_limit": "many",
            "x_custom": 1,
        },
    )
    converted = convert(conn)

    assert converted.extra == {"tls_mode": "starttls"}
    assert converted.login is None
    assert [note.split(" ")[:2] for note in converted.notes] == [
        ["disable_ssl", "is"],
        ["The", "login"],
        ["The", "connection's"],  # timeout 0: smtpconn's check, in its own words
        ["retry_limit", "'many'"],
        ["ssl_context", "'none'"],
        ["subject_template", "'/t/subject.j2'"],
        ["html_content_template", "'/t/body.html'"],
        ["The", "extra"],
    ]
    assert all("\n" not in note and note.endswith(".") for note in converted.notes)


def test_a_converted_connection_sends_through_the_hook(monkeypatch, capsys, starttls_server, trust_ca, airflow_db):
    """Both printed forms: the command, run by Airflow's own CLI, stores what the environment line holds; that
    connection then sends through the hook (STARTTLS, AUTH) to the test server."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
    from airflow_provider_smtpconn.sending import EmailRequest, send_email

    extra = {"disable_ssl": True, "from_email": "Alerts <alerts@example.org>", "timeout": 10, "retry_limit": 0}
    official(monkeypatch, host="127.0.0.1", port=starttls_server.port, login="alice", password="secret-pw", extra=extra)
    code, out, _ = run(capsys, "smtp_default", "--show-secrets", "--new-conn-id", "converted")
    assert code == 0
    name, value = printed_connection(out)
    (command,) = [line for line in out.splitlines() if line.startswith("airflow connections add")]
    airflow = Path(sys.executable).with_name("airflow")
    env = {**os.environ, "AIRFLOW__CORE__FERNET_KEY": ""}  # stored as this process reads it: not encrypted
    added = subprocess.run(
        [str(airflow), *shlex.split(command)[1:]], env=env, capture_output=True, text=True, timeout=120
    )
    assert added.returncode == 0, added.stderr
    with create_session() as session:  # the row the command wrote
        stored = session.scalars(select(Connection).where(Connection.conn_id == "converted")).one()
    assert {
        "conn_type": stored.conn_type,
        "host": stored.host,
        "port": stored.port,
        "login": stored.login,
        "password": stored.password,
        "extra": stored.extra_dejson,
    } == value

    monkeypatch.setenv(name, json.dumps(value))
    result = send_email(
        EmailRequest(to="ops@example.org", subject="Converted", text="It works."), SmtpConnHook("converted")
    )

    (received,) = starttls_server.messages
    assert (received.mail_from, received.rcpt_tos) == ("alerts@example.org", ["ops@example.org"])
    assert received.message["Subject"] == "Converted"
    assert received.message_id == result.message_id
    assert starttls_server.auth_attempts[-1][1:] == ("alice", True)
    assert "STARTTLS" in starttls_server.commands
