"""message/headers.py on its own: the header policy (headers a parameter owns, valid names) and the header guard,
which refuses a line break in any header before or after RFC 2047/2231 decoding while legitimate encoded words
read back as meant. No Airflow, no server."""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage

import pytest
from support.composing import BASE_HEADERS, compose, read_back

from airflow_provider_smtpconn.exceptions import AttachmentError, HeaderInjectionError, InvalidMessageError
from airflow_provider_smtpconn.message.attachments import Attachment, normalize_attachments
from airflow_provider_smtpconn.message.headers import SMTP, check_header
from airflow_provider_smtpconn.message.writer import attachment_head


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
