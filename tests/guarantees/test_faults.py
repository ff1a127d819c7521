"""Every fault an SMTP send can meet, through the hook and through the operator: what was raised, how many copies the
server accepted (0 or 1, never 2), and the task's final state.

The cases are one table (:data:`FAULTS`). Each case runs twice against a fresh script of the same fault:

1. through :class:`SmtpConnHook` (one ``send``), asserting the exception class and text and the copies accepted;
2. through :class:`SendEmailOperator` in a DAG run by ``dag.test()`` with ``retries=1, retry_delay=0``, asserting
   the task's final state and try number and, again, the copies accepted.

The connection allows one transport retry (``retry_limit=1``): a transient fault scripted once is absorbed by the
transport, so the task succeeds on its first try; a permanent one fails the task at once (no task retry, since a
retry could not help and, after the body, could send twice); a fault that persists uses up the transport's
attempts and then the task's retry.

If ``SMTPCONN_RELIABILITY_JSON`` names a file, each case appends its observed outcome to it as a JSON line, which
``scripts/reliability_table.py`` turns into the README's table.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from support.airflow_helpers import run_dag, task_states, xcom_value
from support.fault_server import BlackHole, FaultServer, closed_port
from support.messages import composed
from support.reliability_log import record

from airflow_provider_smtpconn.exceptions import (
    DeliveryUnknownError,
    NoGreetingError,
    RecipientsRefusedError,
    SmtpNetworkError,
    SmtpPermanentError,
    SmtpTemporaryError,
    SmtpTLSError,
)
from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
from airflow_provider_smtpconn.message.compose import make_message_id
from airflow_provider_smtpconn.operators.smtp import SendEmailOperator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = pytest.mark.usefixtures("airflow_db")

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
USER, PASSWORD = "alice", "secret-pw"
TIMEOUT = 1.0  # the connection's timeout in every case: short, so the slow cases stay cheap
BIG = 4 * 1024 * 1024  # the mid-body case's attachment; see its comment in FAULTS


@dataclass(frozen=True)
class Fault:
    """One row of the fault table."""

    id: str
    expected: str  # the outcome a user should see, in words
    error: type[Exception] | None  # what the hook raises; None: delivered
    match: str | None  # a regex the error text must contain
    copies: int  # copies the server accepted, per run
    task: tuple[str, int]  # the operator task's final (state, try_number)
    server: str = "plain"  # plain | refused | black_hole | no_starttls | tls-<certificate kind>
    script: Callable[[FaultServer], None] | None = None
    big: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _delay_everything(server: FaultServer) -> None:
    for command in ("greeting", "EHLO", "MAIL", "RCPT", "DATA", "EOD"):
        server.delay(command, TIMEOUT / 4)  # each reply well inside the timeout, the whole session beyond it


SUCCESS, FAILED_AT_ONCE, FAILED_AFTER_RETRY = ("success", 1), ("failed", 1), ("failed", 2)

FAULTS = [
    Fault(
        "connection refused",
        "retried, then a clear error",
        SmtpNetworkError,
        r"127\.0\.0\.1:\d+ failed while connecting: connection refused\. Gave up after 2 attempts\.",
        0,
        FAILED_AFTER_RETRY,
        server="refused",
    ),
    Fault(
        "greeting 421",
        "retried with a new connection, delivered once",
        None,
        None,
        1,
        SUCCESS,
        script=lambda s: s.reply("greeting", "421 4.3.2 Service not available, try later"),
    ),
    *(
        Fault(
            f"{verb} 4xx",
            "retried, delivered once",
            None,
            None,
            1,
            SUCCESS,
            script=lambda s, verb=verb: s.reply(verb, "451 4.3.0 Temporary local problem"),
        )
        for verb in ("MAIL", "RCPT", "DATA", "EOD")
    ),
    *(
        Fault(
            f"{verb} 5xx",
            "no retry, code and text in the error",
            RecipientsRefusedError if verb == "RCPT" else SmtpPermanentError,
            r"55\d 5\.7\.1 Policy says no",
            0,
            FAILED_AT_ONCE,
            script=lambda s, verb=verb, code=code: s.reply(verb, f"{code} 5.7.1 Policy says no"),
        )
        for verb, code in (("MAIL", 550), ("RCPT", 550), ("DATA", 554), ("EOD", 554))
    ),
    Fault(
        "close before the greeting",
        "retried, delivered once",
        None,
        None,
        1,
        SUCCESS,
        script=lambda s: s.drop("connect"),
    ),
    Fault(
        "close after EHLO",
        "retried, delivered once",
        None,
        None,
        1,
        SUCCESS,
        script=lambda s: s.drop("ehlo"),
    ),
    # The server aborts on the first bytes of the body. With a small message the client's sendall() completes
    # into the kernel's socket buffer before the abort arrives, so the client cannot tell "mid-body" from "after
    # the body"; with a 4 MiB attachment (streamed from a file) the break is seen while still sending, so the
    # transport knows the final dot never went out and may safely retry.
    Fault(
        "close mid-body (4 MiB)",
        "retried: the server never accepted it",
        None,
        None,
        1,
        SUCCESS,
        script=lambda s: s.drop("mid_body"),
        big=True,
    ),
    Fault(
        "close after the body, before the reply",
        "not retried, error says delivery unknown with the Message-ID",
        DeliveryUnknownError,
        r"was lost after the whole message was sent .* not resent\. Message-ID <",
        0,
        FAILED_AT_ONCE,
        script=lambda s: s.drop("after_body"),
    ),
    # The worst case of the same fault: the server committed the message, then its reply never came in time.
    Fault(
        "final reply slower than the timeout (server committed it)",
        "not retried, delivery unknown: one copy, never two",
        DeliveryUnknownError,
        r"timed out after the whole message was sent .* not resent\. Message-ID <",
        1,
        FAILED_AT_ONCE,
        script=lambda s: s.delay("EOD", TIMEOUT + 0.5),
    ),
    Fault(
        "slow server under the timeout",
        "delivered",
        None,
        None,
        1,
        SUCCESS,
        script=_delay_everything,
    ),
    Fault(
        "black hole (accepts TCP, never greets)",
        "fails within timeout + 1 s, not retried by the transport; says the port may expect implicit TLS",
        NoGreetingError,
        rf"sent no greeting within {TIMEOUT:g} s: the server may expect TLS from the first byte; use tls_mode",
        0,
        FAILED_AFTER_RETRY,
        server="black_hole",
    ),
    Fault(
        "STARTTLS not offered (tls_mode starttls)",
        "refused, server saw no AUTH and no message",
        SmtpTLSError,
        r"does not offer STARTTLS, and tls_mode is 'starttls'",
        0,
        FAILED_AT_ONCE,
        server="no_starttls",
    ),
    Fault(
        "STARTTLS refused 454 (tls_mode starttls)",
        "refused, server saw no AUTH and no message",
        SmtpTLSError,
        r"refused STARTTLS: 454 4\.7\.0 TLS not available",
        0,
        FAILED_AT_ONCE,
        server="tls-good",
        script=lambda s: s.starttls_fails(times=None),
    ),
    Fault(
        "expired certificate",
        "refused by default with a clear reason",
        SmtpTLSError,
        r"certificate .* not accepted: certificate has expired",
        0,
        FAILED_AT_ONCE,
        server="tls-expired",
    ),
    Fault(
        "certificate for another host",
        "refused by default with a clear reason",
        SmtpTLSError,
        r"not accepted: (IP address|Hostname) mismatch, certificate is not valid for '127\.0\.0\.1'\. Trust",
        0,
        FAILED_AT_ONCE,
        server="tls-wrong_host",
    ),
    Fault(
        "self-signed certificate",
        "refused by default with a clear reason",
        SmtpTLSError,
        r"not accepted: self[- ]signed certificate",
        0,
        FAILED_AT_ONCE,
        server="tls-self_signed",
    ),
]


# -- servers and certificates ------------------------------------------------------------------------------------


def _self_signed_context(tmp_path: Path) -> ssl.SSLContext:
    """A server context whose certificate for 127.0.0.1 signs itself (no CA at all)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "self-signed.pem", tmp_path / "self-signed.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


def _tls_context(kind: str, ca: Any, server_tls: ssl.SSLContext, tmp_path: Path) -> ssl.SSLContext:
    if kind == "good":
        return server_tls
    if kind == "self_signed":
        return _self_signed_context(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if kind == "expired":
        now = dt.datetime.now(dt.timezone.utc)
        leaf = ca.issue_cert(
            "127.0.0.1", "localhost", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
        )
    else:  # wrong_host: signed by the trusted CA, but for another name
        leaf = ca.issue_cert("mail.example.org")
    leaf.configure_cert(context)
    return context


@pytest.fixture
def fault_server(request, ca, server_tls, trust_ca, tmp_path) -> Iterator[Any]:
    """The server a case needs; ``trust_ca`` makes the test CA trusted, so each TLS case fails for its own reason."""
    case: Fault = request.param
    if case.server == "refused":
        yield SimpleNamespace(host="127.0.0.1", port=closed_port(), connections=0, messages=[], commands=[])
        return
    if case.server == "black_hole":
        with BlackHole() as hole:
            hole.messages, hole.commands = [], []  # type: ignore[attr-defined]
            yield hole
        return
    kwargs: dict[str, Any] = {}
    if case.server == "no_starttls":
        kwargs = {"starttls_context": server_tls, "offer_starttls": False, "auth": {USER: PASSWORD}}
    elif case.server.startswith("tls-"):
        kind = case.server.removeprefix("tls-")
        kwargs = {"starttls_context": _tls_context(kind, ca, server_tls, tmp_path), "auth": {USER: PASSWORD}}
    with FaultServer(**kwargs) as server:
        yield server


def _connection(case: Fault, server: Any, smtp_conn: Callable[..., str]) -> None:
    extra = {"timeout": TIMEOUT, "retry_limit": 1, **case.extra}
    if case.server == "no_starttls" or case.server.startswith("tls-"):
        smtp_conn(server, login=USER, password=PASSWORD, tls_mode="starttls", **extra)
    else:
        smtp_conn(server, **extra)


def _attachments(case: Fault, tmp_path: Path) -> list[str]:
    if not case.big:
        return []
    path = tmp_path / "big.bin"
    if not path.exists():
        path.write_bytes(os.urandom(BIG))
    return [str(path)]


def _script(case: Fault, server: Any) -> None:
    if isinstance(server, FaultServer):
        server.reset()
        if case.script is not None:
            case.script(server)


def _assert_nothing_in_clear(case: Fault, server: Any) -> None:
    """TLS cases: the server saw no AUTH, no MAIL and no message."""
    if case.server == "no_starttls" or case.server.startswith("tls-"):
        assert "AUTH" not in server.commands
        assert "MAIL" not in server.commands
        assert server.auth_attempts == []


# -- the test ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "fault_server"), [(c, c) for c in FAULTS], ids=[c.id for c in FAULTS], indirect=["fault_server"]
)
def test_fault(case: Fault, fault_server: Any, smtp_conn, tmp_path, capfd):
    server = fault_server
    _connection(case, server, smtp_conn)
    attachments = _attachments(case, tmp_path)

    # 1. Through the hook: one send of one message with a known Message-ID.
    _script(case, server)
    message_id = make_message_id("example.org", "fault", case.id)
    message = composed(
        to="rcpt@example.org",
        subject=case.id,
        text=f"Fault case: {case.id}\n",
        attachments=attachments,
        identity=("fault", case.id),
    )
    started = time.monotonic()
    error: Exception | None = None
    try:
        result = SmtpConnHook().send(message)
    except Exception as exc:  # checked just below
        error = exc
    elapsed = time.monotonic() - started
    hook_copies = sum(1 for m in server.messages if m.message_id == message_id)
    connections = server.connections

    # 2. Through the operator, in a DAG, with one task retry allowed.
    _script(case, server)
    with _dag(case) as dag:
        SendEmailOperator(
            task_id="send",
            to="rcpt@example.org",
            subject=case.id,
            text=f"Fault case: {case.id}\n",
            attachments=attachments,
            retries=1,
            retry_delay=dt.timedelta(0),
        )
    dag_run = run_dag(dag)
    state = task_states(dag_run)["send"]
    operator_copies = len(server.messages)
    log = "".join(capfd.readouterr())
    record(
        "faults",
        case=case.id,
        expected=case.expected,
        error=type(error).__name__ if error else None,
        copies_hook=hook_copies,
        copies_operator=operator_copies,
        task_state=state[0],
        task_try=state[1],
        seconds_hook=round(elapsed, 2),
    )

    if case.error is None:
        assert error is None, f"{case.id}: expected delivery, got {error!r}"
        assert result.message_id == message_id
        (received,) = server.messages
        assert received.message_id == xcom_value(dag_run, "send")["message_id"]
        assert received.message["Subject"] == case.id
        if case.big:
            (attachment,) = received.message.iter_attachments()
            assert attachment.get_content() == (tmp_path / "big.bin").read_bytes()  # the retry sent it whole
    else:
        assert type(error) is case.error, f"{case.id}: expected {case.error.__name__}, got {error!r}"
        assert case.match is not None
        assert _search(case.match, str(error)), f"{case.id}: {case.match!r} not in {str(error)!r}"
        assert _search(case.match, log), f"{case.id}: the task log does not carry the error"
    if case.error is DeliveryUnknownError:
        assert error.message_id == message_id  # type: ignore[union-attr]
        assert message_id in str(error)
    if case.error in (SmtpPermanentError, RecipientsRefusedError):
        assert not isinstance(error, SmtpTemporaryError)
    if case.server == "black_hole":
        assert connections == 1  # one attempt: another would wait the whole timeout for the same silence...
        assert elapsed < TIMEOUT + 1.0  # ...given up within the timeout + 1 s
    if case.server == "refused":
        assert connections == 0
    _assert_nothing_in_clear(case, server)
    assert hook_copies == case.copies
    assert operator_copies == case.copies
    assert state == case.task


def _dag(case: Fault):
    from airflow.sdk import DAG

    dag_id = "fault_" + "".join(c if c.isalnum() else "_" for c in case.id.lower())[:60]
    return DAG(dag_id, schedule=None, start_date=START, catchup=False)


def _search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def test_the_table_covers_every_fault_case():
    """Every command has its 4xx and 5xx case, so a case cannot silently drop out of the table."""
    ids = {c.id for c in FAULTS}
    for verb in ("MAIL", "RCPT", "DATA"):
        assert {f"{verb} 4xx", f"{verb} 5xx"} <= ids
    assert len(FAULTS) == len(ids) == 22
    assert all(c.copies in (0, 1) for c in FAULTS)
