"""DSN on the wire (RFC 3461): RET and ENVID on MAIL, NOTIFY on every RCPT, as the loopback server saw them when it
offers DSN; a server without DSN gets the messages without them and the log one warning."""

from __future__ import annotations

import logging

import pytest
from support.fault_server import FaultServer
from support.messages import composed
from support.sessions import settings

from airflow_provider_smtpconn.smtp.session import SmtpSession

DSN = {"notify": ["failure", "delay"], "ret": "headers", "envid": "invoice 117"}


@pytest.mark.parametrize("pipelining", ["auto", "off"])
def test_the_parameters_are_on_mail_and_on_every_rcpt(pipelining):
    message = composed(to="a@example.org", cc="b@example.org", bcc="c@example.org", text="x", dsn=DSN)
    with FaultServer(dsn=True) as server, SmtpSession(settings(server, pipelining=pipelining)) as session:
        session.send(message)

    (received,) = server.messages
    assert received.dsn["MAIL"] == ["RET=HDRS", "ENVID=invoice+20117"]
    for rcpt in ("a@example.org", "b@example.org", "c@example.org"):
        assert received.dsn[rcpt] == ["NOTIFY=FAILURE,DELAY"]


def test_a_message_without_dsn_sends_no_parameters_to_a_server_with_dsn():
    with FaultServer(dsn=True) as server, SmtpSession(settings(server)) as session:
        session.send(composed(to="a@example.org", text="x"))
    (received,) = server.messages
    assert received.dsn == {"MAIL": [], "a@example.org": []}


def test_a_server_without_dsn_gets_the_messages_without_it_and_the_log_one_warning(caplog):
    messages = [composed(to=f"r{i}@example.org", text="x", dsn=DSN) for i in range(3)]
    with caplog.at_level(logging.WARNING), FaultServer() as server, SmtpSession(settings(server)) as session:
        outcomes = session.send_many(messages)

    assert all(outcome.ok for outcome in outcomes) and len(server.messages) == 3
    assert not any("RET=" in option or "ENVID" in option for m in server.messages for option in m.mail_options)
    warnings = [r for r in caplog.records if "does not offer DSN" in r.getMessage()]
    assert len(warnings) == 1 and f"{server.host}:{server.port}" in warnings[0].getMessage()
