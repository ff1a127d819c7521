"""The session's TLS policy against a real server with trustme certificates: STARTTLS and implicit TLS, the trust
store, a private CA bundle, and every way TLS can fail refused before anything (AUTH, MAIL) goes in plain text."""

from __future__ import annotations

import pytest
from support.fault_server import FaultServer
from support.sessions import message, send, settings

from airflow_provider_smtpconn.exceptions import (
    SmtpTLSError,
)
from airflow_provider_smtpconn.smtp.session import SmtpSession


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
