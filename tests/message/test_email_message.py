"""message/email_message.py: a standard library message through the hook's door, whatever its policy or shape."""

from __future__ import annotations

import email
from email import policy
from email.header import Header
from email.message import EmailMessage, Message

import pytest

from airflow_provider_smtpconn.exceptions import HeaderInjectionError, InvalidMessageError
from airflow_provider_smtpconn.message.email_message import from_email_message


def addressed(message: Message) -> Message:
    message["From"], message["To"] = "a@example.org", "b@example.org"
    return message


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


@pytest.mark.parametrize("name", ["X-A: 1\r\nBcc", "X-A\r\nEvil", "X A", "X-\u00c4", "X:A"])
def test_a_header_name_that_is_not_a_field_name_is_refused(name):
    for message in (EmailMessage(), Message()):
        addressed(message)[name] = "evil@example.net"
        with pytest.raises(HeaderInjectionError, match="RFC 5322 section 2.2"):
            from_email_message(message)


@pytest.mark.parametrize(
    "content_type",
    ["multipart/mixed; boundary*=utf-8''a%0D%0AX-Evil%3A%201", "text/plain; name*=utf-8''a%0AInjected%3A%20x"],
)
def test_an_rfc2231_parameter_that_decodes_to_a_line_break_is_refused(content_type):
    message = addressed(Message())
    message["Content-Type"] = content_type
    message.set_payload("x") if content_type.startswith("text/") else message.attach(Message())
    with pytest.raises(HeaderInjectionError, match="decodes to a line break"):
        from_email_message(message)


@pytest.mark.parametrize("parse_policy", [policy.default, policy.SMTP, policy.compat32])
def test_a_parsed_message_with_folded_headers_is_unfolded_and_sent(parse_policy):
    raw = (
        b"From: a@example.org\r\nTo: b@example.org\r\nMessage-ID: <m1@example.org>\r\n"
        b"Subject: a long subject\r\n folded here\r\nX-Trace: " + b"x " * 60 + b"\r\n\tend\r\n\r\nbody\r\n"
    )
    wire = from_email_message(email.message_from_bytes(raw, policy=parse_policy))
    received = parse(wire.as_bytes())
    assert received["Subject"] == "a long subject folded here"
    assert received["X-Trace"].split() == ["x"] * 60 + ["end"]
    assert received.get_content() == "body\r\n" and wire.message_id == "<m1@example.org>"


def test_a_message_without_date_gets_one_and_a_message_id():
    message = addressed(EmailMessage())
    message.set_content("x")
    received = parse(from_email_message(message).as_bytes())
    assert received["Date"].datetime is not None and received["Message-ID"].endswith("@example.org>")
    assert message["Date"] is None  # the caller's message is not changed


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda m: m.set_payload("h\u00e9llo"), "cannot be written for the wire"),
        (lambda m: m.__setitem__("X-H", Header("a\r\nBcc: x")), "cannot be written for the wire|line break"),
        (
            lambda m: (m.__setitem__("Content-Type", 'multipart/mixed; boundary="b\u00e9"'), m.attach(Message())),
            "boundary",
        ),
        (lambda m: m.__setitem__("X-Long", "y" * 5000), "998"),
        (lambda m: (m.__setitem__("Content-Transfer-Encoding", "binary"), m.set_payload("x")), "BINARYMIME"),
    ],
)
def test_what_cannot_go_on_the_wire_is_one_of_our_errors(build, match):
    message = addressed(Message())
    build(message)
    with pytest.raises(InvalidMessageError, match=match):
        from_email_message(message)


def test_eight_bit_bytes_without_a_transfer_encoding_are_re_encoded_and_read_back_the_same():
    raw = "From: a@example.org\r\nTo: b@example.org\r\n\r\nGr\u00fc\u00dfe\r\n".encode()
    wire = from_email_message(email.message_from_bytes(raw, policy=policy.default))
    data = wire.as_bytes()
    assert not wire.body_8bit and data.isascii() and b"Content-Transfer-Encoding: quoted-printable" in data
    assert email.message_from_bytes(data, policy=policy.default).get_payload(decode=True) == "Grüße\r\n".encode()


def eight_bit_text(text: str = "Gr\u00fc\u00dfe\n") -> EmailMessage:
    message = addressed(EmailMessage(policy=policy.SMTP))
    message.set_content(text, cte="8bit")
    return message  # type: ignore[return-value]


def test_an_8bit_text_body_is_re_encoded_quoted_printable_and_reads_back_the_same():
    message = eight_bit_text()
    wire = from_email_message(message)
    data = wire.as_bytes()
    assert data.isascii() and not wire.body_8bit
    assert b"Content-Transfer-Encoding: quoted-printable\r\n" in data and b"8bit" not in data
    assert parse(data).get_content() == "Gr\u00fc\u00dfe\r\n"
    assert message["Content-Transfer-Encoding"] == "8bit"  # the caller's message is not changed


def test_8bit_binary_data_is_re_encoded_base64_byte_for_byte():
    raw = bytes(range(256)) * 4
    message = eight_bit_text("see attached\n")
    message.add_attachment(raw, maintype="application", subtype="octet-stream", cte="8bit", filename="x.bin")
    data = from_email_message(message).as_bytes()
    assert data.isascii()
    (attached,) = parse(data).iter_attachments()
    assert attached["Content-Transfer-Encoding"] == "base64" and attached.get_content() == raw


def test_a_nested_message_with_8bit_data_is_flagged_for_8bitmime():
    message = eight_bit_text("see attached\n")
    message.add_attachment(eight_bit_text())
    assert from_email_message(message).body_8bit


def test_the_message_id_added_is_at_the_configured_domain_else_the_sender_s():
    assert from_email_message(eight_bit_text()).message_id.endswith("@example.org>")
    configured = from_email_message(eight_bit_text(), message_id_domain="mail.example.net")
    assert configured.message_id.endswith("@mail.example.net>")
