"""``wire.compose_wire`` against ``compose``: the same message as the server parses it, the same errors."""

from __future__ import annotations

import email
import io
from datetime import datetime, timezone
from email.policy import default as default_policy

import pytest

from airflow_provider_smtpconn.message.attachments import normalize_attachments
from airflow_provider_smtpconn.message.compose import EmailSpec
from airflow_provider_smtpconn.exceptions import HeaderInjectionError, InvalidMessageError
from airflow_provider_smtpconn.smtp.data import FileSink
from airflow_provider_smtpconn.smtp.session import SmtpSession
from airflow_provider_smtpconn.message.writer import compose_wire

DATE = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
SENDER = "Bench <bench@example.org>"
HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "Importance", "X-Priority", "X-Tag")

SPECS = {
    "text only": {"to": "a@example.org", "subject": "Hi", "text": "Hello\n"},
    "both bodies, quoted names": {
        "to": '"Doe, Jane" <jane@example.org>; bob@example.org',
        "cc": ["Carol Q <carol@example.org>", "bob@example.org"],
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
        "html": "<p>" + "x" * 2000 + "</p>",
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
    "odd spacing and localhost": {"to": "root@localhost", "subject": "  spaced\tout  ", "text": "a\tb   \n"},
    "empty subject and body": {"to": "a@example.org"},
}

BAD = {
    "invalid address": ({"to": "not an address"}, InvalidMessageError),
    "not text in a list": ({"to": ["a@example.org", 5]}, InvalidMessageError),
    "dots in an unquoted name": ({"to": "J. R. Doe <jr@example.org>"}, InvalidMessageError),
    "encoded word in a name": ({"to": "X=?utf-8?b?DQpCY2M6IGV2aWxAeC5vcmc=?=Y <a@example.org>"}, HeaderInjectionError),
    "no recipient": ({"to": None}, InvalidMessageError),
    "two senders": ({"to": "a@example.org", "sender": "a@example.org, b@example.org"}, InvalidMessageError),
    "bad importance": ({"to": "a@example.org", "importance": "urgent"}, InvalidMessageError),
    "reserved header": ({"to": "a@example.org", "headers": {"To": "x@example.org"}}, InvalidMessageError),
    "bad header name": ({"to": "a@example.org", "headers": {"Bad Name": "x"}}, InvalidMessageError),
    "line break in subject": ({"to": "a@example.org", "subject": "a\nBcc: x@example.net"}, HeaderInjectionError),
    "encoded line break": ({"to": "a@example.org", "headers": {"X-A": "=?utf-8?q?=0A?=Bcc: x"}}, HeaderInjectionError),
    "body not text": ({"to": "a@example.org", "text": b"bytes"}, InvalidMessageError),
}


def _spec(params: dict) -> EmailSpec:
    params = dict(params)
    params["attachments"] = normalize_attachments(params.get("attachments"), None)
    return EmailSpec(sender=params.pop("sender", SENDER), date=DATE, identity=("dag", "task", 1), **params)


def _wire_bytes(outgoing) -> bytes:
    buffer = io.BytesIO()
    outgoing.rendered.write_to(FileSink(buffer))
    assert len(buffer.getvalue()) == outgoing.rendered.size
    return buffer.getvalue()


def _parts(data: bytes) -> dict:
    msg = email.message_from_bytes(data, policy=default_policy)
    bodies = {}
    for subtype in ("plain", "html"):
        body = msg.get_body((subtype,))
        bodies[subtype] = body.get_content() if body is not None and body.get_filename() is None else None
    files = {p.get_filename(): (p.get_content_type(), p.get_payload(decode=True)) for p in msg.iter_attachments()}
    headers = {name: str(msg[name]) if name in msg else None for name in HEADERS}
    return {"headers": headers, "bodies": bodies, "files": files, "type": msg.get_content_type(), "bcc": "Bcc" in msg}


@pytest.mark.parametrize("name", SPECS)
def test_the_same_message_as_compose(name):
    spec = _spec(SPECS[name])
    fast = compose_wire(spec)
    composed = spec.compose()
    slow = SmtpSession.outgoing(composed.message, composed.envelope)

    assert fast.envelope == slow.envelope
    assert fast.message_id == slow.message_id
    assert not fast.body_8bit
    fast_bytes = _wire_bytes(fast)
    assert _parts(fast_bytes) == _parts(_wire_bytes(slow))
    assert all(len(line) <= 998 for line in fast_bytes.split(b"\r\n"))
    assert b"hidden@example.org" not in fast_bytes


@pytest.mark.parametrize("name", BAD)
def test_the_same_errors_as_compose(name):
    params, kind = BAD[name]
    spec = _spec(params)
    with pytest.raises(kind) as slow:
        spec.compose()
    with pytest.raises(kind) as fast:
        compose_wire(spec)
    assert str(fast.value) == str(slow.value)


def test_inline_images_and_non_ascii_addresses_are_left_to_compose():
    inline = _spec({"to": "a@example.org", "html": "<img src='cid:x'>",
                    "attachments": [{"filename": "x.png", "content": "x", "content_id": "x"}]})  # fmt: skip
    assert compose_wire(inline) is None
    assert compose_wire(_spec({"to": "zoë@example.org", "text": "x"})) is None
