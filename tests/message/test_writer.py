"""message/writer.py on its own: the one writer behind both doors (a composed request, a standard library message).

No server and no Airflow: what is written is read back with the standard library's parser
(``email.message_from_bytes`` with ``email.policy.default``).
"""

from __future__ import annotations

import base64
import email
import io
import os
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING

import pytest

from airflow_provider_smtpconn.exceptions import HeaderInjectionError, InvalidMessageError
from airflow_provider_smtpconn.message.attachments import Attachment, normalize_attachments
from airflow_provider_smtpconn.message.compose import compose, make_message_id
from airflow_provider_smtpconn.message.email_message import from_email_message
from airflow_provider_smtpconn.message.request import EmailRequest
from airflow_provider_smtpconn.message.writer import Base64Source, WireMessage, attachment_head

if TYPE_CHECKING:
    from pathlib import Path

DATE = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
SENDER = "Bench <bench@example.org>"
IDENTITY = ("dag", "task", 1)
HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "Importance", "X-Priority", "X-Tag")
# Over one 57 KiB read chunk, and not a multiple of 3 or 57, so every boundary case is crossed.
DATA = os.urandom(57 * 1024 * 2 + 100)

REQUESTS = {
    "text only": {"to": "a@example.org", "subject": "Hi", "text": "Hello\n"},
    "both bodies, quoted names": {
        "to": ['"Doe, Jane" <jane@example.org>', "bob@example.org"],
        "cc": ["Carol Q <carol@example.org>"],
        "bcc": "hidden@example.org",
        "reply_to": "Pat O'Brien-Smith <pat@example.org>",
        "subject": "Both",
        "text": "plain\n.starts with a dot\nFrom here\n",
        "html": "<p>html</p>",
    },
    "non-ascii subject and name": {"to": "Zoë Ångström <zoe@example.org>", "subject": "Grüße, Zoë", "text": "Zoë"},
    "long subject and many recipients": {
        "to": [f"Reader Number {i} <reader{i}@example.org>" for i in range(12)],
        "subject": "A subject long enough to need folding across more than one line " * 3,
        "html": "<p>" + "x" * 300 + "</p>",
    },
    "attachment and html only": {
        "to": "a@example.org",
        "html": "<b>see the file</b>",
        "attachments": [
            {"filename": "rows.csv", "content": [[1, "a"], [2, "b"]]},
            {"filename": "n.txt", "content": "é"},
        ],
        "importance": "HIGH",
        "headers": {"X-Tag": "merge 7"},
    },
    "inline image": {
        "to": "a@example.org",
        "text": "see the chart",
        "html": '<img src="cid:chart">',
        "attachments": [{"filename": "chart.png", "content": b"\x89PNG", "content_id": "chart"}],
    },
    "odd spacing and localhost": {"to": "root@localhost", "subject": "  spaced\tout  ", "text": "a\tb   \n"},
    "empty subject and body": {"to": "a@example.org"},
}


def composed(params: dict) -> WireMessage:
    params = dict(params)
    request = EmailRequest(from_email=params.pop("sender", SENDER), **params)
    return compose(request, identity=IDENTITY, date=DATE)


def stdlib_message(params: dict) -> EmailMessage:
    """What Python code calling the hook would build for the same request, with the standard library alone."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = SENDER
    for name in ("to", "cc", "bcc", "reply_to"):
        value = params.get(name)
        if value:
            msg[name.replace("_", "-").title()] = value if isinstance(value, str) else ", ".join(value)
    msg["Subject"] = params.get("subject", "")
    msg["Date"] = format_datetime(DATE)
    msg["Message-ID"] = make_message_id("example.org", *IDENTITY)
    if params.get("importance"):
        msg["Importance"], msg["X-Priority"] = "high", "1 (Highest)"
    for name, value in (params.get("headers") or {}).items():
        msg[name] = value
    text, html = params.get("text"), params.get("html")
    if html is None or text is not None:
        msg.set_content(text or "")
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    for attachment in normalize_attachments(params.get("attachments")):
        body = msg.get_body(("html",)) if attachment.content_id else None
        maintype, subtype = attachment.content_type.split(";")[0].split("/")
        if body is not None:
            body.add_related(attachment.source, maintype, subtype, cid=f"<{attachment.content_id}>")
        else:
            msg.add_attachment(attachment.source, maintype, subtype, filename=attachment.filename)
    return msg


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def seen(data: bytes) -> dict:
    """What a receiver sees: the headers, the bodies, the attachments and inline parts by content."""
    msg = parse(data)
    bodies = {}
    for subtype in ("plain", "html"):
        body = msg.get_body((subtype,))
        bodies[subtype] = body.get_content().replace("\r\n", "\n") if body is not None else None
    files = {p.get_filename(): p.get_payload(decode=True) for p in msg.iter_attachments()}
    inline = sorted(str(p["Content-ID"]) for p in msg.walk() if p["Content-ID"])
    headers = {name: str(msg[name]) if name in msg else None for name in HEADERS}
    return {"headers": headers, "bodies": bodies, "files": files, "inline": inline, "bcc": "Bcc" in msg}


# -- the two doors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REQUESTS)
def test_both_doors_write_what_a_receiver_reads_the_same(name):
    wire = composed(REQUESTS[name])
    door = from_email_message(stdlib_message(REQUESTS[name]))

    assert wire.envelope == door.envelope
    assert wire.message_id == door.message_id
    data = wire.as_bytes()
    assert len(data) == wire.size and len(door.as_bytes()) == door.size
    assert seen(data) == seen(door.as_bytes())
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    assert b"hidden@example.org" not in data and b"hidden@example.org" not in door.as_bytes()
    for written in (data, door.as_bytes()):
        assert [p.defects for p in parse(written).walk()] == [[] for _ in parse(written).walk()]


def test_a_caller_s_message_keeps_its_bcc_and_gets_a_message_id_at_the_sender_s_domain():
    msg = stdlib_message({"to": "a@example.org", "bcc": "b@example.org", "text": "x"})
    del msg["Message-ID"]
    wire = from_email_message(msg)
    assert wire.envelope.recipients == ["a@example.org", "b@example.org"]
    assert wire.message_id.endswith("@example.org>") and parse(wire.as_bytes())["Message-ID"] == wire.message_id
    assert msg["Bcc"] == "b@example.org" and msg["Message-ID"] is None  # the caller's message is not changed


def test_a_caller_s_header_that_decodes_to_a_line_break_is_refused_whatever_its_policy():
    msg = email.message.Message()  # compat32: the email package itself does not guard
    msg["From"], msg["To"] = "a@example.org", "b@example.org"
    msg["Subject"] = "Hi =?utf-8?q?=0D=0ABcc:_leak@example.net?="
    msg.set_payload("x")
    with pytest.raises(HeaderInjectionError, match="Subject"):
        from_email_message(msg)


def test_a_caller_s_message_without_recipient_is_refused():
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    with pytest.raises(InvalidMessageError, match="no recipient"):
        from_email_message(msg)


def test_a_nested_message_is_written_by_the_email_package_s_generator():
    inner = stdlib_message({"to": "x@example.org", "subject": "inner", "text": "forwarded"})
    msg = stdlib_message({"to": "a@example.org", "text": "see attached"})
    msg.add_attachment(inner)
    (attached,) = parse(from_email_message(msg).as_bytes()).iter_attachments()
    assert attached.get_content()["Subject"] == "inner"


# -- attachments and the wire form ------------------------------------------------------------------------------


def test_an_attachment_reads_back_with_the_same_bytes_from_memory_and_from_a_file(tmp_path: Path):
    path = tmp_path / "big.bin"
    path.write_bytes(DATA)
    wire = composed({"to": "a@example.org", "text": "x", "attachments": [path, {"filename": "m.bin", "content": DATA}]})
    big, memory = parse(wire.as_bytes()).iter_attachments()
    assert big.get_content() == memory.get_content() == DATA
    assert (big.get_filename(), big["Content-Transfer-Encoding"]) == ("big.bin", "base64")


def test_a_wire_message_holds_attachments_by_reference_and_writes_the_same_bytes_each_time():
    wire = composed({"to": "a@example.org", "text": "x", "attachments": [{"filename": "m.bin", "content": DATA}]})
    assert [type(p) for p in wire.pieces if not isinstance(p, bytes)] == [Base64Source]
    assert sum(len(p) for p in wire.pieces if isinstance(p, bytes)) < 2048
    first = io.BytesIO()
    wire.write_to(first)
    assert first.getvalue() == wire.as_bytes() and len(first.getvalue()) == wire.size


@pytest.mark.parametrize("size", [0, 1, 2, 3, 56, 57, 58, 57 * 1024, 57 * 1024 + 1])
def test_encoded_size_matches_the_base64_written(size: int):
    raw = os.urandom(size)
    source = Base64Source(raw)
    body = b"".join(source.chunks())
    assert source.encoded_size == len(body)
    assert base64.b64decode(body) == raw
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))


def test_attachment_headers_go_through_the_guard():
    image = {"filename": "caf\u00e9 report.pdf", "content": b"x", "content_id": "c1"}
    wire = composed({"to": "a@example.org", "html": "<img src='cid:c1'>", "attachments": [image]})
    part = next(p for p in parse(wire.as_bytes()).walk() if p["Content-ID"])
    assert (part.get_filename(), part.get_content_disposition(), part["Content-ID"]) == (
        "caf\u00e9 report.pdf",
        "inline",
        "<c1>",
    )
    with pytest.raises(HeaderInjectionError, match="contains a line break"):
        attachment_head(Attachment("a\r\nX-Injected: yes", "text/plain", b"x"), "attachment")


def test_a_long_ascii_html_line_goes_as_7bit_up_to_998_octets():
    short = parse(composed({"to": "a@example.org", "html": "<p>" + "x" * 300 + "</p>"}).as_bytes())
    long = parse(composed({"to": "a@example.org", "html": "x" * 1200}).as_bytes())
    assert short["Content-Transfer-Encoding"] == "7bit"
    assert long["Content-Transfer-Encoding"] == "quoted-printable"
    assert long.get_content().strip() == "x" * 1200
