"""Tests for the fault_server test helper, driven with the standard library's smtplib."""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
import threading
import time
from email.message import EmailMessage

import pytest
import trustme
from support.fault_server import HOST, BlackHole, FaultServer, closed_port

TIMEOUT = 3.0


def make_message(msg_id: str = "<m1@fault.test>", body: str = "hello\n", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "sender@example.com"
    msg["To"] = "rcpt@example.com"
    msg["Subject"] = "test"
    msg["Message-ID"] = msg_id
    for name, value in headers.items():
        msg[name] = value
    msg.set_content(body)
    return msg


def connect(srv: FaultServer | BlackHole, timeout: float = TIMEOUT) -> smtplib.SMTP:
    return smtplib.SMTP(srv.host, srv.port, timeout=timeout)


def xoauth2(user: str, token: str):
    def authobject(challenge: bytes | None = None) -> str:
        return f"user={user}\x01auth=Bearer {token}\x01\x01" if challenge is None else ""

    return authobject


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context) trusting a throwaway CA."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


@pytest.fixture
def srv():
    with FaultServer() as server:
        yield server


# -- basics -------------------------------------------------------------------------------------


def test_delivery_recorded(srv: FaultServer) -> None:
    assert srv.host == HOST
    assert srv.port > 0
    with connect(srv) as smtp:
        smtp.send_message(make_message(), to_addrs=["a@example.com", "b@example.com"])
    received = srv.wait_for(1)[0]
    assert received.mail_from == "sender@example.com"
    assert received.rcpt_tos == ["a@example.com", "b@example.com"]
    assert received.message_id == "<m1@fault.test>"
    assert received.message["Subject"] == "test"
    assert received.tls is False
    assert received.authenticated_as is None
    assert b"\r\n" in received.data
    assert srv.count("<m1@fault.test>") == 1
    assert srv.count("<other@fault.test>") == 0
    assert srv.connections == 1
    assert srv.commands == ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]


def test_dot_unstuffing_and_options(srv: FaultServer) -> None:
    raw = b"Message-ID: <dots@x>\r\n\r\n.leading dot\r\n..two\r\nend\r\n"
    with connect(srv) as smtp:
        smtp.sendmail("s@example.com", ["r@example.com"], raw, mail_options=["BODY=8BITMIME"])
    received = srv.wait_for(1)[0]
    assert received.data == raw
    assert "BODY=8BITMIME" in received.mail_options
    assert received.message_id == "<dots@x>"


def test_other_commands_recorded_and_reset(srv: FaultServer) -> None:
    with connect(srv) as smtp:
        smtp.ehlo()
        assert smtp.noop()[0] == 250
        assert smtp.rset()[0] == 250
    assert srv.commands == ["EHLO", "NOOP", "RSET", "QUIT"]
    srv.reply("MAIL", "451 4.3.0 later")
    srv.reset()
    assert (srv.commands, srv.connections, srv.messages, srv.auth_attempts) == ([], 0, [], [])
    with connect(srv) as smtp:
        smtp.send_message(make_message())  # the MAIL script was cleared
    assert len(srv.messages) == 1


def test_wait_for_times_out(srv: FaultServer) -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        srv.wait_for(1, timeout=0.1)
    assert time.monotonic() - start < 1.0


def test_bad_scripts_rejected(srv: FaultServer) -> None:
    with pytest.raises(ValueError, match="3-digit"):
        srv.reply("MAIL", "oops")
    with pytest.raises(ValueError, match="RCPT"):
        srv.reply("MAIL", "550 no", address="a@example.com")
    with pytest.raises(ValueError, match="drop point"):
        srv.drop("somewhere")
    with pytest.raises(ValueError, match="times"):
        srv.drop("ehlo", times=0)


def test_nothing_left_behind() -> None:
    before = set(threading.enumerate())  # threads other tests left may end meanwhile: compare by identity
    with FaultServer() as server, connect(server) as smtp:
        smtp.ehlo()
        port = server.port
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, port), timeout=1).close()


def test_extensions_advertised() -> None:
    with FaultServer(size_limit=1000) as srv, connect(srv) as smtp:
        smtp.ehlo()
        assert smtp.esmtp_features["size"] == "1000"
        assert smtp.has_extn("smtputf8")
        assert not smtp.has_extn("auth")
        assert not smtp.has_extn("starttls")
        with pytest.raises(smtplib.SMTPSenderRefused) as exc:
            smtp.send_message(make_message(body="x" * 2000))
        assert exc.value.smtp_code == 552
    with FaultServer(smtputf8=False) as srv, connect(srv) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("smtputf8")
        assert not smtp.has_extn("size")
        assert smtp.ehlo_resp is not None
        assert smtp.ehlo_resp.startswith(b"fault.test")


# -- TLS ----------------------------------------------------------------------------------------


def test_starttls(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls
    with FaultServer(starttls_context=server_ctx) as srv, connect(srv) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        assert smtp.starttls(context=client_ctx)[0] == 220
        smtp.ehlo()
        assert not smtp.has_extn("starttls")
        smtp.send_message(make_message())
        assert srv.wait_for(1)[0].tls is True
        assert srv.commands[:3] == ["EHLO", "STARTTLS", "EHLO"]


def test_starttls_not_offered(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    with FaultServer(starttls_context=tls[0], offer_starttls=False) as srv, connect(srv) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("starttls")


def test_starttls_fails(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    with FaultServer(starttls_context=tls[0]) as srv, connect(srv) as smtp:
        srv.starttls_fails()
        with pytest.raises(smtplib.SMTPResponseException) as exc:
            smtp.starttls(context=tls[1])
        assert exc.value.smtp_code == 454
        assert smtp.noop()[0] == 250  # still in plaintext, still connected


def test_implicit_tls(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls
    with FaultServer(tls_context=server_ctx) as srv:
        with smtplib.SMTP_SSL(srv.host, srv.port, context=client_ctx, timeout=TIMEOUT) as smtp:
            smtp.send_message(make_message())
        assert srv.wait_for(1)[0].tls is True


# -- AUTH ---------------------------------------------------------------------------------------


def test_auth_plain_ok() -> None:
    with FaultServer(auth={"alice": "s3cret"}) as srv, connect(srv) as smtp:
        smtp.ehlo()
        assert set(smtp.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
        assert smtp.login("alice", "s3cret")[0] == 235
        smtp.send_message(make_message())
        assert srv.wait_for(1)[0].authenticated_as == "alice"
        assert srv.auth_attempts == [("PLAIN", "alice", True)]


def test_auth_fail() -> None:
    with FaultServer(auth={"alice": "s3cret"}) as srv, connect(srv) as smtp:
        smtp.ehlo()
        smtp.user, smtp.password = "alice", "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError) as exc:
            smtp.auth("PLAIN", smtp.auth_plain)
        assert exc.value.smtp_code == 535
        assert exc.value.smtp_error == b"5.7.8 Authentication credentials invalid"
        assert smtp.login("alice", "s3cret")[0] == 235  # LOGIN path, after PLAIN... succeeds
        assert srv.auth_attempts[0] == ("PLAIN", "alice", False)
        assert "wrong" not in repr(srv.auth_attempts)


def test_auth_login_mechanism() -> None:
    with FaultServer(auth={"bob": "pw"}) as srv, connect(srv) as smtp:
        smtp.ehlo()
        smtp.user, smtp.password = "bob", "pw"
        assert smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)[0] == 235
        assert srv.auth_attempts == [("LOGIN", "bob", True)]


def test_xoauth2_ok() -> None:
    with FaultServer(xoauth2={"carol@example.com": "tok"}) as srv, connect(srv) as smtp:
        smtp.ehlo()
        assert smtp.esmtp_features["auth"].split() == ["XOAUTH2"]
        assert smtp.auth("XOAUTH2", xoauth2("carol@example.com", "tok"))[0] == 235
        smtp.send_message(make_message())
        assert srv.wait_for(1)[0].authenticated_as == "carol@example.com"
        assert srv.auth_attempts == [("XOAUTH2", "carol@example.com", True)]


def test_xoauth2_fail_gmail_style() -> None:
    with FaultServer(xoauth2={"carol@example.com": "tok"}) as srv:
        # Raw exchange: 334 <base64 JSON>, then 535 after the empty line.
        with socket.create_connection((srv.host, srv.port), timeout=TIMEOUT) as sock:
            f = sock.makefile("rwb")
            assert f.readline().startswith(b"220 ")
            f.write(b"EHLO me\r\n")
            f.flush()
            while not f.readline().startswith(b"250 "):
                pass
            blob = base64.b64encode(b"user=carol@example.com\x01auth=Bearer bad\x01\x01")
            f.write(b"AUTH XOAUTH2 " + blob + b"\r\n")
            f.flush()
            challenge = f.readline()
            assert challenge.startswith(b"334 ")
            assert b'"status": "401"' in base64.b64decode(challenge[4:].strip())
            f.write(b"\r\n")
            f.flush()
            assert f.readline().startswith(b"535 5.7.8")
        with connect(srv) as smtp:
            smtp.ehlo()
            with pytest.raises(smtplib.SMTPAuthenticationError) as exc:
                smtp.auth("XOAUTH2", xoauth2("carol@example.com", "bad"))
            assert exc.value.smtp_code == 535
        assert srv.auth_attempts == [("XOAUTH2", "carol@example.com", False)] * 2


# -- scripted replies ---------------------------------------------------------------------------


def test_greeting_421_closes(srv: FaultServer) -> None:
    srv.reply("greeting", "421 4.3.2 Service not available")
    with socket.create_connection((srv.host, srv.port), timeout=TIMEOUT) as sock:
        f = sock.makefile("rb")
        assert f.readline() == b"421 4.3.2 Service not available\r\n"
        assert f.readline() == b""  # server closed the connection
    with connect(srv) as smtp:  # times=1: the next session is normal
        assert smtp.noop()[0] == 250


def test_greeting_reply_smtplib(srv: FaultServer) -> None:
    srv.reply("greeting", "554 5.3.2 No service")
    with pytest.raises(smtplib.SMTPConnectError) as exc:
        connect(srv)
    assert exc.value.smtp_code == 554


def test_ehlo_replies(srv: FaultServer) -> None:
    srv.reply("EHLO", "554 5.7.1 go away")
    with connect(srv) as smtp:
        assert smtp.ehlo()[0] == 554
        assert smtp.noop()[0] == 250
    srv.reply("EHLO", "421 4.7.0 too busy")
    smtp = connect(srv)
    assert smtp.ehlo()[0] == 421
    with pytest.raises(smtplib.SMTPServerDisconnected):
        smtp.noop()


def test_auth_reply() -> None:
    with FaultServer(auth={"alice": "s3cret"}) as srv, connect(srv) as smtp:
        srv.reply("AUTH", "454 4.7.0 Temporary authentication failure")
        smtp.ehlo()
        smtp.user, smtp.password = "alice", "s3cret"
        with pytest.raises(smtplib.SMTPAuthenticationError) as exc:
            smtp.auth("PLAIN", smtp.auth_plain)
        assert exc.value.smtp_code == 454
        assert srv.auth_attempts == []


def test_mail_reply(srv: FaultServer) -> None:
    srv.reply("MAIL", "451 4.3.0 Try again later")
    with connect(srv) as smtp:
        with pytest.raises(smtplib.SMTPSenderRefused) as exc:
            smtp.send_message(make_message())
        assert exc.value.smtp_code == 451
        smtp.rset()
        smtp.send_message(make_message())
    assert len(srv.messages) == 1


def test_rcpt_per_address_permanent(srv: FaultServer) -> None:
    srv.reply("RCPT", "550 5.1.1 No such user", times=None, address="Bad@example.com")
    with connect(srv) as smtp:
        for _ in range(2):
            refused = smtp.send_message(make_message(), to_addrs=["good@example.com", "bad@example.com"])
            assert refused == {"bad@example.com": (550, b"5.1.1 No such user")}
    assert [m.rcpt_tos for m in srv.wait_for(2)] == [["good@example.com"]] * 2


def test_rcpt_generic_once(srv: FaultServer) -> None:
    srv.reply("RCPT", "450 4.2.1 Mailbox busy")
    with connect(srv) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.send_message(make_message(), to_addrs=["x@example.com"])
        smtp.rset()
        assert smtp.send_message(make_message(), to_addrs=["x@example.com"]) == {}


def test_data_reply(srv: FaultServer) -> None:
    srv.reply("DATA", "554 5.7.1 Rejected")
    with connect(srv) as smtp, pytest.raises(smtplib.SMTPDataError) as exc:
        smtp.send_message(make_message())
    assert exc.value.smtp_code == 554
    assert srv.messages == []


def test_eod_reply(srv: FaultServer) -> None:
    srv.reply("EOD", "452 4.3.1 Insufficient storage")
    with connect(srv) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as exc:
            smtp.send_message(make_message())
        assert exc.value.smtp_code == 452
        assert srv.messages == []
        smtp.send_message(make_message())
    assert srv.count("<m1@fault.test>") == 1


# -- drops --------------------------------------------------------------------------------------


@pytest.mark.parametrize("at", ["connect", "greeting"])
def test_drop_before_greeting(srv: FaultServer, at: str) -> None:
    srv.drop(at)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        connect(srv)
    with connect(srv) as smtp:
        assert smtp.noop()[0] == 250
    assert srv.connections == 2


def test_drop_at_ehlo(srv: FaultServer) -> None:
    srv.drop("ehlo")
    smtp = connect(srv)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        smtp.ehlo()
    assert srv.commands == ["EHLO"]


@pytest.mark.parametrize("at", ["mid_body", "after_body"])
def test_drop_in_data(srv: FaultServer, at: str) -> None:
    srv.drop(at)
    smtp = connect(srv)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        smtp.send_message(make_message(body="line\n" * 2000))
    smtp.close()
    assert "DATA" in srv.commands
    assert srv.messages == []
    with connect(srv) as smtp:
        smtp.send_message(make_message())
    assert len(srv.wait_for(1)) == 1


# -- delays and silent servers ------------------------------------------------------------------


def test_delay_greeting(srv: FaultServer) -> None:
    srv.delay("greeting", 0.3)
    start = time.monotonic()
    with connect(srv) as smtp:
        assert time.monotonic() - start >= 0.3
        srv.delay("greeting", 0)
        assert smtp.noop()[0] == 250


def test_delay_eod_client_times_out_but_message_lands(srv: FaultServer) -> None:
    srv.delay("EOD", 0.6)
    smtp = connect(srv, timeout=0.2)
    with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
        smtp.send_message(make_message())
    # The client gave up, yet the server accepted it: the classic duplicate-on-retry trap.
    assert srv.wait_for(1, timeout=3)[0].message_id == "<m1@fault.test>"


def test_black_hole_times_out() -> None:
    with BlackHole() as hole:
        assert hole.host == HOST
        start = time.monotonic()
        with pytest.raises((smtplib.SMTPServerDisconnected, TimeoutError), match="timed out"):
            smtplib.SMTP(hole.host, hole.port, timeout=0.5)
        assert 0.4 < time.monotonic() - start < 3
        deadline = time.monotonic() + 2
        while hole.connections < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert hole.connections == 1


def test_closed_port_refuses() -> None:
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(HOST, closed_port(), timeout=1)
