"""The SMTP transport against a real aiosmtpd server on loopback, with real certificates."""

from __future__ import annotations

import socket
import time
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from support.fault_server import FaultServer
from support.messages import composed

from airflow_provider_smtpconn.exceptions import (
    DeliveryUnknownError,
    MessageTooLargeError,
    NoGreetingError,
    RecipientsRefusedError,
    SmtpAuthError,
    SmtpConfigError,
    SmtpNetworkError,
    SmtpPermanentError,
    SmtpTemporaryError,
    SmtpTLSError,
)
from airflow_provider_smtpconn.message.writer import WireMessage, from_email_message
from airflow_provider_smtpconn.smtp.session import SmtpSession
from airflow_provider_smtpconn.smtp.settings import SmtpSettings


def settings(server, **overrides) -> SmtpSettings:
    values = {"host": server.host, "port": server.port, "tls_mode": "none", "retry_wait": 0, "timeout": 5}
    values.update(overrides)
    return SmtpSettings(**values)


def message(to="to@example.org", *, subject="Hello", body="Hi there.\n", **headers) -> WireMessage:
    return from_email_message(stdlib_message(to, subject=subject, body=body, **headers))


def stdlib_message(to="to@example.org", *, subject="Hello", body="Hi there.\n", **headers) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Sender <sender@example.org>"
    msg["To"] = to
    msg["Subject"] = subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def send(server, msg=None, **overrides):
    if isinstance(msg, EmailMessage):
        msg = from_email_message(msg)
    with SmtpSession(settings(server, **overrides)) as session:
        return session.send(msg or message())


# -- plain delivery and the envelope ----------------------------------------------------------------


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


# -- TLS ---------------------------------------------------------------------------------------------


def test_starttls_with_trusted_ca_then_ehlo_again_before_auth(starttls_server, trust_ca):
    with SmtpSession(
        settings(starttls_server, host="localhost", tls_mode="starttls", username="alice", password="secret-pw")
    ) as session:
        session.send(message())
        assert session.tls_version in ("TLSv1.2", "TLSv1.3")

    (received,) = starttls_server.messages
    assert received.tls and received.authenticated_as == "alice"
    commands = starttls_server.commands
    assert commands[: commands.index("MAIL")] == ["EHLO", "STARTTLS", "EHLO", "AUTH"]


def test_implicit_tls(server_tls, trust_ca):
    with FaultServer(tls_context=server_tls) as server:
        send(server, tls_mode="implicit")
    assert server.messages[0].tls


def test_untrusted_certificate_is_refused_before_anything_is_sent(starttls_server):
    with pytest.raises(SmtpTLSError, match="certificate of 127.0.0.1:.* was not accepted"):
        send(starttls_server, tls_mode="starttls", username="alice", password="secret-pw")
    assert "AUTH" not in starttls_server.commands
    assert starttls_server.messages == []


def test_untrusted_certificate_is_accepted_with_ignore_self_signed(starttls_server):
    send(starttls_server, tls_mode="starttls", ignore_self_signed=True)
    assert starttls_server.messages[0].tls


@pytest.mark.parametrize("as_text", [False, True], ids=["path", "pem-text"])
def test_private_ca_bundle_is_trusted(starttls_server, ca_pem_path, as_text):
    bundle = open(ca_pem_path).read() if as_text else ca_pem_path
    send(starttls_server, tls_mode="starttls", ca_bundle=bundle)
    assert starttls_server.messages[0].tls


def test_certificate_for_another_host_is_refused(ca, trust_ca):
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("mail.example.org").configure_cert(context)
    with FaultServer(starttls_context=context) as server:
        with pytest.raises(SmtpTLSError, match="Hostname mismatch|IP address mismatch"):
            send(server, tls_mode="starttls")
        assert server.messages == [] and "MAIL" not in server.commands


def test_missing_starttls_is_refused_and_nothing_goes_in_plain_text():
    with FaultServer(auth={"alice": "secret-pw"}) as server:
        with pytest.raises(SmtpTLSError, match="does not offer STARTTLS"):
            send(server, tls_mode="starttls", username="alice", password="secret-pw")
        assert "AUTH" not in server.commands and "MAIL" not in server.commands
        assert server.messages == [] and server.auth_attempts == []


def test_failed_starttls_is_refused(starttls_server):
    starttls_server.reply("STARTTLS", "454 4.7.0 TLS not available", times=None)
    with pytest.raises(SmtpTLSError, match="refused STARTTLS: 454"):
        send(starttls_server, tls_mode="starttls", username="alice", password="secret-pw")
    assert "AUTH" not in starttls_server.commands and starttls_server.messages == []


# -- authentication ---------------------------------------------------------------------------------


def test_auth_success_records_the_user(starttls_server):
    send(starttls_server, username="alice", password="secret-pw")
    assert starttls_server.auth_attempts[-1][1:] == ("alice", True)
    assert starttls_server.messages[0].authenticated_as == "alice"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_basic_auth_with_the_mechanism_the_server_offers(mechanism):
    with FaultServer(auth={"alice": "secret-pw"}, auth_mechanisms=(mechanism,)) as server:
        send(server, username="alice", password="secret-pw")
        with pytest.raises(SmtpAuthError, match="535"):
            send(server, username="alice", password="wrong-pw")
        assert server.auth_attempts == [(mechanism, "alice", True), (mechanism, "alice", False)]
        assert len(server.messages) == 1


def test_auth_failure_names_the_user_never_the_password(starttls_server):
    with pytest.raises(SmtpAuthError) as info:
        send(starttls_server, username="alice", password="wrong-pw")
    assert "'alice'" in str(info.value) and "535" in str(info.value)
    assert "wrong-pw" not in str(info.value)
    assert starttls_server.messages == []
    assert starttls_server.commands.count("AUTH") == 1  # permanent: not retried


def test_xoauth2_success_and_failure():
    with FaultServer(xoauth2={"bob@example.org": "ya29.token"}) as server:
        send(server, username="bob@example.org", password="ya29.token", auth_type="xoauth2")
        assert server.auth_attempts == [("XOAUTH2", "bob@example.org", True)]
        with pytest.raises(SmtpAuthError, match="rejected the credentials of 'bob@example.org'") as info:
            send(server, username="bob@example.org", password="expired-token", auth_type="xoauth2")
        assert "expired-token" not in str(info.value)
        assert len(server.messages) == 1


def test_plaintext_auth_to_a_remote_host_is_refused_before_connecting(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError(f"tried to connect to {args!r}")

    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(SmtpConfigError, match="in plain text to smtp.example.com:25"):
        SmtpSettings(host="smtp.example.com", tls_mode="none", username="u", password="p")
    assert SmtpSettings(host="127.0.0.1", tls_mode="none", username="u", password="p").port == 25
    assert SmtpSettings(host="smtp.example.com", tls_mode="none", username="u", password="p", allow_plaintext_auth=True)


# -- delivery semantics -----------------------------------------------------------------------------


def test_421_greeting_is_retried_with_a_new_connection_and_delivered_once(smtp_server):
    smtp_server.reply("greeting", "421 4.3.2 Too busy, try later")
    result = send(smtp_server)
    assert smtp_server.connections == 2
    assert smtp_server.count(result.message_id) == 1


@pytest.mark.parametrize("command", ["MAIL", "RCPT", "DATA", "EOD"])
def test_451_is_retried_and_delivered_exactly_once(smtp_server, command):
    smtp_server.reply(command, "451 4.3.0 Try again later")
    result = send(smtp_server)
    assert smtp_server.count(result.message_id) == 1
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize("command", ["MAIL", "DATA", "EOD"])
def test_550_is_not_retried(smtp_server, command):
    smtp_server.reply(command, "550 5.7.1 Policy rejection")
    with pytest.raises(SmtpPermanentError, match="550 5.7.1 Policy rejection"):
        send(smtp_server)
    assert smtp_server.messages == []
    assert smtp_server.commands.count("MAIL") == 1


def test_transient_failures_give_up_after_retry_limit(smtp_server):
    smtp_server.reply("MAIL", "451 4.3.0 Try again later", times=None)
    with pytest.raises(SmtpTemporaryError, match="Gave up after 3 attempts"):
        send(smtp_server, retry_limit=2)
    assert smtp_server.commands.count("MAIL") == 3
    assert smtp_server.messages == []


def test_connection_dropped_after_the_body_is_not_resent(smtp_server):
    smtp_server.drop("after_body")
    with pytest.raises(DeliveryUnknownError, match="may or may not have been delivered") as info:
        send(smtp_server)
    assert info.value.message_id and info.value.message_id in str(info.value)
    assert smtp_server.commands.count("DATA") == 1  # no second attempt


def test_server_that_never_greets_times_out_within_the_timeout(black_hole):
    started = time.monotonic()
    with pytest.raises(
        NoGreetingError, match="no greeting within 0.5 s: the server may expect TLS from the first byte"
    ):
        send(black_hole, timeout=0.5, retry_limit=0)
    assert time.monotonic() - started < 0.5 + 1.0


def test_connection_refused_is_retried_then_a_clear_error(free_port):
    class Closed:
        host, port = "127.0.0.1", free_port

    with pytest.raises(SmtpNetworkError, match="connection refused. Gave up after 2 attempts"):
        send(Closed, retry_limit=1)


def test_some_recipients_refused_is_reported_not_raised(smtp_server):
    smtp_server.reply("RCPT", "550 5.1.1 No such user", times=None, address="ghost@example.org")
    result = send(smtp_server, message(to="a@example.org, ghost@example.org"))
    assert result.accepted == ["a@example.org"]
    assert result.refused == {"ghost@example.org": (550, "5.1.1 No such user")}
    assert smtp_server.messages[0].rcpt_tos == ["a@example.org"]


def test_all_recipients_refused_raises_with_the_replies(smtp_server):
    smtp_server.reply("RCPT", "550 5.1.1 No such user", times=None)
    with pytest.raises(RecipientsRefusedError, match="refused every recipient.*550 5.1.1 No such user") as info:
        send(smtp_server, message(to="x@example.org, y@example.org"))
    assert set(info.value.refused) == {"x@example.org", "y@example.org"}
    assert smtp_server.messages == []


def test_message_over_the_advertised_size_fails_before_data():
    with FaultServer(size_limit=2000) as server:
        with pytest.raises(MessageTooLargeError, match=r"is \d+ bytes but .* at most 2000 bytes"):
            send(server, message(body="x" * 3000 + "\n"))
        assert "MAIL" not in server.commands and server.messages == []
        send(server)
        assert "SIZE=" in " ".join(server.messages[0].mail_options).upper()


# -- checking a connection --------------------------------------------------------------------------


def test_check_reports_what_was_reached_and_sends_no_mail(starttls_server, trust_ca):
    text = SmtpSession(
        settings(starttls_server, host="localhost", tls_mode="starttls", username="alice", password="secret-pw")
    ).check()
    assert f"localhost:{starttls_server.port}" in text
    assert "STARTTLS (TLSv1." in text and "authenticated as 'alice'" in text
    assert "NOOP" in starttls_server.commands and "MAIL" not in starttls_server.commands
