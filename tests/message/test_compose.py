"""message/compose.py and message/headers.py on their own: a request to its wire form, addresses, Message-ID, the
header guard.

No Airflow DB, no DAG, no server: every message is composed to its wire bytes and read back with the standard
library's parser, so the assertions are on what a receiver would see.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from typing import TYPE_CHECKING, NamedTuple

import pytest

from airflow_provider_smtpconn.exceptions import AttachmentError, HeaderInjectionError, InvalidMessageError
from airflow_provider_smtpconn.message import compose as composer
from airflow_provider_smtpconn.message.addresses import parse_addresses
from airflow_provider_smtpconn.message.attachments import Attachment, normalize_attachments
from airflow_provider_smtpconn.message.compose import make_message_id
from airflow_provider_smtpconn.message.headers import SMTP, check_header
from airflow_provider_smtpconn.message.request import EmailRequest
from airflow_provider_smtpconn.message.writer import attachment_head

if TYPE_CHECKING:
    from airflow_provider_smtpconn.message.envelope import Envelope

DATE = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
BASE_HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Content-Type",
    "Content-Transfer-Encoding",
    "MIME-Version",
]


class Composed(NamedTuple):
    message: EmailMessage  # the wire bytes as the standard library's parser reads them
    envelope: Envelope


def compose(
    sender: str = "Sender <sender@example.org>", identity: tuple[object, ...] = (), **fields: object
) -> Composed:
    fields.setdefault("to", "to@example.org")
    wire = composer.compose(EmailRequest(from_email=sender, **fields), identity=identity, date=DATE)  # type: ignore[arg-type]
    data = wire.as_bytes()
    assert len(data) == wire.size
    return Composed(BytesParser(policy=policy.default).parsebytes(data), wire.envelope)  # type: ignore[arg-type]


def read_back(message: EmailMessage) -> EmailMessage:
    return message


# -- composing -------------------------------------------------------------------------------------


def test_composed_message_has_exactly_the_intended_headers() -> None:
    composed = compose(
        to="Jane <jane@example.org>",
        cc="cc@example.org",
        bcc="hidden@example.org",
        reply_to="replies@example.org",
        subject="Weekly report",
        importance="High",
        headers={"X-Ticket": "T-1", "X-Count": 3},
        text="hello",
    )
    parsed = read_back(composed.message)
    extra = ["Cc", "Reply-To", "Importance", "X-Priority", "X-Ticket", "X-Count"]
    assert sorted(parsed.keys()) == sorted([*BASE_HEADERS, *extra])  # Bcc never goes on the wire
    assert parsed["From"].addresses[0] == Address("Sender", addr_spec="sender@example.org")
    assert str(parsed["To"]) == "Jane <jane@example.org>"
    assert (parsed["Subject"], parsed["X-Ticket"], parsed["X-Count"]) == ("Weekly report", "T-1", "3")
    assert (parsed["Importance"], parsed["X-Priority"]) == ("high", "1 (Highest)")
    assert parsed["Date"].datetime == DATE
    assert parsed.get_content().rstrip("\r\n") == "hello"


def test_envelope_lists_every_recipient_once_including_bcc() -> None:
    composed = compose(to="a@example.org; A@example.org", cc=["b@example.org", None], bcc="c@example.org")
    assert composed.envelope.sender == "sender@example.org"
    assert composed.envelope.recipients == ["a@example.org", "b@example.org", "c@example.org"]
    assert compose(sender="s@example.org", to="a@example.org").message["To"] == "a@example.org"


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"to": None}, "No recipient"),
        ({"sender": "a@example.org, b@example.org"}, "exactly one address"),
        ({"importance": "urgent"}, "importance 'urgent'"),
        ({"subject": 42}, "subject 42 is not text"),
        ({"text": b"bytes"}, "text must be text"),
    ],
)
def test_invalid_field_is_refused_naming_it(fields: dict[str, object], match: str) -> None:
    spec = {"sender": "s@example.org", "to": "to@example.org", **fields}
    with pytest.raises(InvalidMessageError, match=match):
        compose(**spec)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "parameter"), [("Bcc", "bcc"), ("reply-to", "reply_to"), ("X-Priority", "importance")]
)
def test_reserved_header_is_refused_pointing_to_its_parameter(name: str, parameter: str) -> None:
    with pytest.raises(InvalidMessageError, match=f"use its parameter {parameter}"):
        compose(headers={name: "x"})


@pytest.mark.parametrize("name", ["X Bad", "X:Bad", "", "X-Caf\u00e9", 7])
def test_invalid_header_name_is_refused(name: object) -> None:
    with pytest.raises(InvalidMessageError, match="invalid header name"):
        compose(headers={name: "x"})


def test_text_and_html_become_alternatives_and_non_ascii_survives() -> None:
    parsed = read_back(compose(text="Caf\u00e9 \u2615", html="<p>Caf\u00e9</p>").message)
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.iter_parts()
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_content().rstrip("\r\n") == "Caf\u00e9 \u2615"
    assert html.get_content().rstrip("\r\n") == "<p>Caf\u00e9</p>"


def test_inline_image_is_related_to_html_and_others_are_attached() -> None:
    attachments = [
        {"filename": "logo.png", "content": b"\x89PNG", "content_id": "logo"},
        {"filename": "a.txt", "content": "x"},
    ]
    parsed = read_back(compose(text="t", html='<img src="cid:logo">', attachments=attachments).message)
    assert parsed.get_content_type() == "multipart/mixed"
    body, attached = parsed.iter_parts()
    related = body.get_payload()[1]
    assert related.get_content_type() == "multipart/related"
    logo = related.get_payload()[1]
    assert (logo["Content-ID"], logo.get_content_disposition(), logo.get_content()) == ("<logo>", "inline", b"\x89PNG")
    assert (attached.get_filename(), attached.get_content()) == ("a.txt", "x")


# -- addresses and Message-ID -----------------------------------------------------------------------


def test_parse_addresses_splits_outside_quotes_and_drops_duplicates_and_blanks() -> None:
    found = parse_addresses('"Doe, Jane" <jane@example.org>; bob@example.org, , BOB@example.org', "to")
    assert found == [Address("Doe, Jane", addr_spec="jane@example.org"), Address(addr_spec="bob@example.org")]
    assert parse_addresses(["a@example.org; b@example.org", None], "cc") == [
        Address(addr_spec="a@example.org"),
        Address(addr_spec="b@example.org"),
    ]
    assert parse_addresses(None, "bcc") == []


def test_parse_addresses_names_every_invalid_address_in_one_error() -> None:
    with pytest.raises(InvalidMessageError, match=re.escape("cc has invalid addresses: ['a@', 'x@y']")):
        parse_addresses("a@, ok@example.org, x@y", "cc")
    with pytest.raises(InvalidMessageError, match="cc has 3, which is not an address"):
        parse_addresses(["a@example.org", 3], "cc")
    with pytest.raises(InvalidMessageError, match="is not an address, a list of addresses, or text"):
        parse_addresses(5, "cc")


def test_localhost_and_non_ascii_local_part_are_addresses_that_need_smtputf8() -> None:
    composed = compose(to="j\u00fcrgen@example.org, root@localhost")
    assert composed.envelope.recipients == ["j\u00fcrgen@example.org", "root@localhost"]
    assert composed.envelope.needs_smtputf8


def test_message_id_is_stable_for_one_identity_and_random_without() -> None:
    stable = make_message_id("example.org", "dag", "task", "run", 1)
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.org>", stable)
    assert stable == make_message_id("example.org", "dag", "task", "run", 1)
    assert stable != make_message_id("example.org", "dag", "task", "run", 2)
    assert make_message_id("") != make_message_id("")
    assert make_message_id("").endswith("@localhost>")
    first, second = (compose(identity=("d", "t", "r")).message["Message-ID"] for _ in range(2))
    assert first == second == make_message_id("example.org", "d", "t", "r")


# -- the header guard ---------------------------------------------------------------------------------

INJECTIONS = [
    ({"subject": "Weekly report =?utf-8?q?=0A?=Bcc: leak@example.net"}, "subject", "decodes"),
    ({"subject": "Weekly =?utf-8?b?Cg==?=Bcc: leak@example.net"}, "subject", "decodes"),
    ({"subject": "Weekly =?utf-8?q?a=00b?="}, "subject", "decodes"),
    ({"subject": "Weekly\r\nBcc: leak@example.net"}, "subject", "contains"),
    ({"headers": {"X-Ticket": "T-1 =?utf-8?q?=0D=0AReply-To:_leak@example.net?="}}, "headers['X-Ticket']", "decodes"),
    ({"headers": {"X-Ticket": "T-1\nReply-To: leak@example.net"}}, "headers['X-Ticket']", "contains"),
]


@pytest.mark.parametrize(("fields", "named", "reason"), INJECTIONS)
def test_header_injection_is_refused_naming_the_parameter(fields: dict[str, object], named: str, reason: str) -> None:
    with pytest.raises(HeaderInjectionError) as caught:
        compose(**fields)
    assert caught.value.header == named
    assert caught.value.reason.startswith(reason)
    given = next(iter(fields.values()))
    assert caught.value.value == (next(iter(given.values())) if isinstance(given, dict) else given)


def test_attachment_filename_that_decodes_to_a_line_break_is_refused() -> None:
    filename = "=?utf-8?q?report=0D=0AX-Injected:_yes?=.txt"
    attachments = {"filename": filename, "content": "x"}
    with pytest.raises(HeaderInjectionError) as caught:
        compose(attachments=attachments)
    assert (caught.value.header, caught.value.value) == ("attachments: filename", filename)


def test_content_id_that_decodes_to_a_line_break_is_refused() -> None:
    attachments = {"filename": "a.png", "content": b"x", "content_id": "=?utf-8?q?a=0Ab?="}
    with pytest.raises(HeaderInjectionError, match="decodes to a line break"):
        compose(html="<img>", attachments=attachments)


def test_content_id_injection_error_names_content_id() -> None:
    attachments = {"filename": "a.png", "content": b"x", "content_id": "=?utf-8?q?a=0Ab?="}
    with pytest.raises(HeaderInjectionError) as caught:
        compose(html="<img>", attachments=attachments)
    assert "content_id" in caught.value.header and caught.value.value == "=?utf-8?q?a=0Ab?="


@pytest.mark.parametrize("content_type", ["text/plain; name*=utf-8''a%0Ab", 'text/plain; name="=?utf-8?q?a=0Ab?="'])
def test_encoded_content_type_parameter_is_refused_before_the_guard(content_type: str) -> None:
    with pytest.raises(AttachmentError, match="is not of the form type/subtype"):
        normalize_attachments({"filename": "a.txt", "content": "x", "content_type": content_type})
    with pytest.raises(HeaderInjectionError, match="decodes to a line break"):  # and the guard would refuse it
        attachment_head(Attachment("a.txt", content_type, b"x"), "attachment")


@pytest.mark.parametrize("field", ["to", "cc", "reply_to", "sender"])
def test_display_name_with_an_encoded_line_break_is_not_an_address(field: str) -> None:
    name = '"=?utf-8?q?Jane=0D=0ABcc:_leak@example.net?=" <jane@example.org>'
    spec = {"sender": "s@example.org", "to": "to@example.org", field: name}
    with pytest.raises(InvalidMessageError, match="from_email" if field == "sender" else field):
        compose(**spec)  # type: ignore[arg-type]
    with pytest.raises(HeaderInjectionError, match="decodes to a line break"):
        EmailMessage(policy=SMTP)["To"] = name.replace('"', "")


@pytest.mark.parametrize(
    "value",
    [
        "attachment; filename*=utf-8''a%0Ab",
        "attachment; filename*=utf-8''a%00b",
        "attachment; filename*0*=utf-8''a; filename*1*=%0D%0Ab",
        'attachment; filename="=?utf-8?q?a=0Ab?="',
    ],
)
def test_rfc2231_parameter_that_decodes_to_a_line_break_is_refused(value: str) -> None:
    with pytest.raises(HeaderInjectionError) as caught:
        EmailMessage(policy=SMTP)["Content-Disposition"] = value
    assert (caught.value.header, caught.value.value) == ("Content-Disposition", value)
    message = EmailMessage(policy=SMTP)
    message["Content-Type"] = "text/plain"
    with pytest.raises(HeaderInjectionError):
        message.set_param("name", "\u00e9\nX-Injected: yes")


def test_address_object_whose_display_name_decodes_to_a_line_break_is_refused() -> None:
    message = EmailMessage(policy=SMTP)
    try:
        message["To"] = Address("=?utf-8?q?Jane=0D=0ABcc:_leak@example.net?=", addr_spec="jane@example.org")
    except HeaderInjectionError:
        return
    folded = message.as_bytes()
    assert b"\r\nBcc:" not in folded and b"\nBcc:" not in folded, folded


def test_check_header_refuses_before_and_after_decoding() -> None:
    check_header("X-Fine", "fine")
    with pytest.raises(HeaderInjectionError, match="contains a line break"):
        check_header("X-Raw", "a\rb")

    class Parsed:
        params = {"name": "a\nb"}

    with pytest.raises(HeaderInjectionError, match="decodes to a line break"):
        check_header("X-Param", "fine", Parsed())
    renamed = HeaderInjectionError("Subject", "v", "r").naming("subject")
    assert (renamed.header, renamed.value, renamed.reason) == ("subject", "v", "r")


@pytest.mark.parametrize(
    ("subject", "reads"),
    [
        ("=?utf-8?q?caf=C3=A9?=", "caf\u00e9"),
        ("Re: =?utf-8?b?Y2Fmw6k=?= and more", "Re: caf\u00e9 and more"),
        ("Caf\u00e9 \u2615 " + "long " * 30, "Caf\u00e9 \u2615 " + "long " * 30),
    ],
)
def test_legitimate_subject_is_allowed_and_reads_back(subject: str, reads: str) -> None:
    parsed = read_back(compose(subject=subject).message)
    assert parsed["Subject"].rstrip() == reads.rstrip()
    assert sorted(parsed.keys()) == sorted(BASE_HEADERS)
