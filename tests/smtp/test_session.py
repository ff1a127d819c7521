"""smtp/session.py against a real aiosmtpd server on loopback: what the server accepted is what was meant (the
envelope, Bcc kept off the wire, non-ASCII, dot-stuffing, many messages over one session, streamed attachments),
and ``check`` reports what it reached without sending. No Airflow.
"""

from __future__ import annotations

import pytest
from support.fault_server import FaultServer
from support.messages import composed
from support.sessions import message, send, settings, stdlib_message

from airflow_provider_smtpconn.exceptions import (
    SmtpPermanentError,
)
from airflow_provider_smtpconn.smtp.session import SmtpSession


def test_delivers_message_and_returns_what_the_server_accepted(smtp_server):
    result = send(smtp_server, message(to="a@example.org, B <b@example.org>", Cc="c@example.org"))

    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["a@example.org", "b@example.org", "c@example.org"]
    assert received.mail_from == "sender@example.org"
    assert received.message["Subject"] == "Hello"
    assert received.message_id == result.message_id
    assert result.accepted == ["a@example.org", "b@example.org", "c@example.org"]
    assert result.refused == {}
    assert result.size_bytes == len(received.data)


def test_bcc_is_in_the_envelope_but_never_on_the_wire(smtp_server):
    msg = stdlib_message(to="a@example.org", Bcc="hidden@example.org")
    send(smtp_server, msg)

    (received,) = smtp_server.messages
    assert "hidden@example.org" in received.rcpt_tos
    assert b"hidden@example.org" not in received.data
    assert b"Bcc" not in received.data
    assert msg["Bcc"] == "hidden@example.org"  # the caller's message is not changed


def test_non_ascii_subject_display_name_and_file_name_are_encoded(smtp_server):
    msg = stdlib_message(to="Zoë Ünïcode <zoe@example.org>", subject="Grüße — Bericht")
    msg.add_attachment(b"data", maintype="application", subtype="pdf", filename="résumé 2026.pdf")
    send(smtp_server, msg)

    (received,) = smtp_server.messages
    assert received.data.isascii()
    assert b"=?utf-8?" in received.data  # RFC 2047
    assert b"filename*=utf-8''r%C3%A9sum%C3%A9%202026.pdf" in received.data  # RFC 2231
    assert received.message["Subject"] == "Grüße — Bericht"
    assert received.message["To"].addresses[0].display_name == "Zoë Ünïcode"
    (attachment,) = received.message.iter_attachments()
    assert attachment.get_filename() == "résumé 2026.pdf"
    assert attachment.get_content() == b"data"


def test_non_ascii_address_uses_smtputf8_when_offered(smtp_server):
    send(smtp_server, message(to="josé@exämple.org"))

    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["josé@exämple.org"]
    assert "SMTPUTF8" in [o.upper() for o in received.mail_options]


def test_non_ascii_address_without_smtputf8_is_a_clear_error():
    with FaultServer(smtputf8=False) as server, pytest.raises(SmtpPermanentError, match="SMTPUTF8"):
        send(server, message(to="josé@exämple.org"))
    assert server.messages == []
    assert "MAIL" not in server.commands


def test_dot_at_line_start_is_stuffed_and_arrives_intact(smtp_server):
    body = ".\n..two\n.three\nend.\n"
    send(smtp_server, message(body=body))

    (received,) = smtp_server.messages
    assert received.message.get_content().replace("\r\n", "\n") == body


def test_fifty_messages_over_one_session_arrive_whole(smtp_server):
    with SmtpSession(settings(smtp_server)) as session:
        ids = [session.send(message(subject=f"n{i}", body=f"body {i}\n" * 50)).message_id for i in range(50)]

    assert smtp_server.connections == 1
    assert [r.message_id for r in smtp_server.messages] == ids
    for i, received in enumerate(smtp_server.messages):
        assert received.message["Subject"] == f"n{i}"
        assert received.message.get_content().replace("\r\n", "\n") == f"body {i}\n" * 50
    assert smtp_server.commands.count("QUIT") == 1


def test_large_streamed_attachment_arrives_byte_for_byte(smtp_server, tmp_path):
    payload = bytes(range(256)) * 8192 + b"tail"  # 2 MiB and a bit, not a multiple of 57
    path = tmp_path / "big.bin"
    path.write_bytes(payload)
    msg = composed(sender="Sender <sender@example.org>", to="to@example.org", text="Hi there.\n", attachments=[path])
    result = send(smtp_server, msg)

    (received,) = smtp_server.messages
    (attachment,) = received.message.iter_attachments()
    assert attachment.get_content() == payload
    assert result.size_bytes == len(received.data)


# -- checking a connection --------------------------------------------------------------------------


def test_check_reports_what_was_reached_and_sends_no_mail(starttls_server, trust_ca):
    text = SmtpSession(
        settings(starttls_server, host="localhost", tls_mode="starttls", username="alice", password="secret-pw")
    ).check()
    assert f"localhost:{starttls_server.port}" in text
    assert "STARTTLS (TLSv1." in text and "authenticated as 'alice'" in text
    assert "NOOP" in starttls_server.commands and "MAIL" not in starttls_server.commands
