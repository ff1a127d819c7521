"""No header injection by any route: a line break in any header, raw or hidden in an RFC 2047 encoded word or an
RFC 2231 parameter, is refused naming the parameter before anything connects (the server counts connections),
through the send path, the notifier, the email backend and ``send-test``; legitimate encoded words arrive with
exactly the intended headers. What left the client is parsed with a parser of our own (header lines split by hand),
independent of the ``email`` package that built it.
"""

from __future__ import annotations

import pytest
from support.sending import send

from airflow_provider_smtpconn.exceptions import HeaderInjectionError, InvalidMessageError
from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
from airflow_provider_smtpconn.sending import EmailRequest, send_email

pytestmark = pytest.mark.usefixtures("airflow_db")

SUBJECT_BCC = "Weekly report =?utf-8?q?=0A?=Bcc: leak@example.net"
HEADER_REPLY_TO = "T-1 =?utf-8?q?=0D=0AReply-To:_leak@example.net?="
FILENAME = "=?utf-8?q?report=0D=0AX-Injected:_yes?=.txt"


def header_lines(raw: bytes) -> list[tuple[str, str]]:
    """``(name, value)`` of each header line of a raw message, unfolded: a parser that is not ``email``'s."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    fields: list[tuple[str, str]] = []
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + line)
        else:
            name, _, value = line.partition(":")
            fields.append((name.strip().lower(), value.strip()))
    return fields


def part_header_names(raw: bytes) -> list[list[str]]:
    """The header names of every MIME part after the top-level headers, per part (split on the boundaries)."""
    text = raw.replace(b"\r\n", b"\n").decode("utf-8", "replace")
    parts = text.split("\n--")[1:]
    names = [[n for n, _ in header_lines(("x: y\n" + p.split("\n", 1)[-1]).encode())[1:] if n] for p in parts]
    return [n for n in names if n]


# -- encoded words in every header --------------------------------------------------------------------------


INJECTIONS = [
    ("subject", {"subject": SUBJECT_BCC}),
    ("headers['X-Ticket']", {"headers": {"X-Ticket": HEADER_REPLY_TO}}),
    ("attachments: filename", {"attachments": {FILENAME: "x"}}),
    ("subject", {"subject": "NUL =?utf-8?q?a=00b?="}),
    ("to", {"to": '"=?utf-8?q?Eve=0A?=" <eve@example.org>'}),
    ("cc", {"cc": "=?utf-8?q?Eve=0D=0ABcc:_x@example.net?= <eve@example.org>"}),
    ("reply_to", {"reply_to": '"=?utf-8?q?R=0A?=" <r@example.org>'}),
    ("from_email", {"from_email": '"=?utf-8?q?Ops=0A?=" <ops@example.org>'}),
]


@pytest.mark.parametrize(("field", "params"), INJECTIONS, ids=[f"{f}:{i}" for i, (f, _) in enumerate(INJECTIONS)])
def test_encoded_line_breaks_are_refused_in_every_header(field, params, smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    request = EmailRequest(**{"to": "a@example.org", "text": "hi", **params})
    with pytest.raises(InvalidMessageError) as raised:
        send_email(request, SmtpConnHook())
    assert str(raised.value).startswith(field), str(raised.value)
    assert "\n" not in str(raised.value)
    assert smtp_server.connections == 0


@pytest.mark.parametrize(
    ("field", "params"),
    [
        ("to", {"to": "X=?utf-8?b?DQpCY2M6IGV2aWxAeC5vcmc=?=Y <a@example.org>"}),
        ("from_email", {"from_email": "Ev=?utf-8?q?=0A?=il <f@example.org>"}),
        ("cc", {"cc": '"Ev=?utf-8?q?=0A?=il" <c@example.org>'}),
        ("reply_to", {"reply_to": "R=?UTF-8?Q?=0d?=x <r@example.org>"}),
        ("attachments: filename", {"attachments": {"a=?utf-8?q?=0A?=b.txt": "x"}}),
        ("subject", {"subject": "x =?utf-8?q?=E2=80=A8?= y"}),
        ("subject", {"subject": "x \u2028 y"}),
        ("subject", {"subject": "=?utf-7?q?+AAo-?="}),
    ],
)
def test_encoded_words_inside_words_and_other_line_breaks_are_refused(field, params, smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    with pytest.raises(InvalidMessageError) as raised:
        send(**params)
    assert str(raised.value).startswith(field) and "line break" in str(raised.value)
    assert smtp_server.connections == 0


def test_a_legitimate_mid_word_encoded_word_still_goes_out(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    send(subject="caf=?utf-8?q?=C3=A9?= ok")
    assert len(smtp_server.messages) == 1


def test_legitimate_encoded_words_arrive_with_exactly_the_intended_headers(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    request = EmailRequest(
        to="=?utf-8?q?Jos=C3=A9?= <jose@example.org>",
        subject="Caf\u00e9 =?utf-8?q?report?= Bcc: not-a-header",
        headers={"X-Ticket": "T-1 =?utf-8?q?caf=C3=A9?="},
        text="hi",
        attachments={"r\u00e9sum\u00e9 =?utf-8?q?x?=.txt": "x"},
    )
    send_email(request, SmtpConnHook())
    (received,) = smtp_server.messages
    names = [n for n, _ in header_lines(received.data)]
    assert sorted(names) == sorted(
        ["from", "to", "subject", "date", "message-id", "x-ticket", "content-type", "mime-version"]
    )
    assert received.rcpt_tos == ["jose@example.org"]
    assert received.message["X-Ticket"] == "T-1 caf\u00e9"
    assert [sorted(p) for p in part_header_names(received.data) if p] == [
        ["content-transfer-encoding", "content-type"],
        ["content-disposition", "content-transfer-encoding", "content-type"],
    ]


def test_notifier_email_backend_and_send_test_refuse_it_too(smtp_server, smtp_conn, capsys):
    from airflow_provider_smtpconn.cli import main
    from airflow_provider_smtpconn.email_backend import send_email as backend_send_email
    from airflow_provider_smtpconn.notifications.smtp import SendEmailNotifier

    smtp_conn(smtp_server)
    with pytest.raises(HeaderInjectionError, match="^subject "):
        SendEmailNotifier(to="a@example.org", subject=SUBJECT_BCC).notify({})
    with pytest.raises(HeaderInjectionError, match="^subject "):
        backend_send_email(to="a@example.org", subject=SUBJECT_BCC, html_content="x")
    with pytest.raises(HeaderInjectionError, match=r"^headers\['X-Ticket'\]"):
        backend_send_email(
            to="a@example.org", subject="s", html_content="x", custom_headers={"X-Ticket": HEADER_REPLY_TO}
        )
    assert main(["send-test", "smtpconn_default", "--to", "a@example.org", "--subject", SUBJECT_BCC]) == 1
    assert "HeaderInjectionError: subject " in capsys.readouterr().err
    assert smtp_server.connections == 0


# -- attachment parameters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        {"filename": "a.txt", "content": "x", "content_type": 'text/plain; name="=?utf-8?q?a=0Ab?="'},
        {"filename": "a.txt", "content": "x", "content_type": "text/plain; name*=utf-8''a%0Ab"},
    ],
)
def test_content_type_parameters_cannot_carry_a_line_break(spec, smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    with pytest.raises(InvalidMessageError, match="content_type|line break"):
        send_email(EmailRequest(to="a@example.org", text="x", attachments=spec), SmtpConnHook())
    assert smtp_server.connections == 0


def test_a_content_id_that_looks_encoded_stays_one_header(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    spec = {"filename": "c.png", "content": "eA==", "encoding": "base64", "content_id": "=?utf-8?q?a=0AX-Bad:_1?="}
    try:
        send_email(EmailRequest(to="a@example.org", html='<img src="cid:x">', attachments=spec), SmtpConnHook())
    except InvalidMessageError:
        assert smtp_server.connections == 0
        return
    (received,) = smtp_server.messages
    assert "x-bad" not in {n for part in part_header_names(received.data) for n in part}


# -- custom headers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "shows"),
    [
        ([("X-A", "b")], "is not a mapping"),
        ({"X-A": None}, "headers['X-A'] None is not text or a number"),
        ({"X-A": b"a\nBcc: x@example.net"}, "is not text or a number"),
        ({"X-T": "1", "x-t": "2"}, "sets 'x-t' twice"),
        ({"X-" + "a" * 100: "v"}, "at most 76"),
        ({"Resent-Bcc": "x@example.net"}, "Resent- headers"),
        ({"Return-Path": "<x@example.net>"}, "the receiving server sets it"),
    ],
)
def test_custom_headers_are_checked_before_connecting(headers, shows, smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    with pytest.raises(InvalidMessageError, match="^headers") as raised:
        send(headers=headers)
    assert shows in str(raised.value)
    assert smtp_server.connections == 0


@pytest.mark.parametrize(
    ("header", "parameter"),
    [("Reply-To", "reply_to"), ("To", "to"), ("Importance", "importance"), ("X-Priority", "importance")],
)
def test_a_header_the_operator_owns_names_the_parameter_to_use(header, parameter, smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    with pytest.raises(InvalidMessageError, match=f"use its parameter {parameter}"):
        send_email(EmailRequest(to="a@example.org", text="x", headers={header: "x"}), SmtpConnHook())
