"""What a tester who tried to break the package found, each kept as a test: every case is refused before anything
connects (the server counts connections), or arrives exactly as meant."""

from __future__ import annotations

import json
import os

import pytest

from airflow_provider_smtpconn.exceptions import AttachmentError, InvalidMessageError, SmtpConfigError
from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
from airflow_provider_smtpconn.sending import EmailRequest, send_email

KEY_MATERIAL = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0\n-----END PRIVATE KEY-----\n"


def send(**params):
    return send_email(EmailRequest(**{"to": "a@example.org", "text": "x", **params}), SmtpConnHook())


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


def test_rendered_headers_and_recipient_lists_are_read_back(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    send(to="['a@example.org', 'b@example.org']", headers="{'X-Run': 'r1'}")
    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["a@example.org", "b@example.org"]
    assert received.message["X-Run"] == "r1"


def test_quoted_local_part_with_a_space_is_valid_and_rfc5321_lengths_are_enforced(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    send(to='"john doe"@example.org')
    assert smtp_server.messages[0].rcpt_tos == ['"john doe"@example.org']
    for address in ("a" * 65 + "@example.org", "a@" + "b" * 64 + ".org"):
        with pytest.raises(InvalidMessageError, match="^to has invalid address"):
            send(to=address)
    assert smtp_server.connections == 1


@pytest.mark.parametrize("content_type", ["multipart/mixed; boundary=zzz", "message/rfc822", "multipart/alternative"])
def test_container_content_types_are_refused_for_attachments(content_type, smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    with pytest.raises(AttachmentError, match="container type"):
        send(attachments={"filename": "a.bin", "content": "x", "content_type": content_type})
    assert smtp_server.connections == 0


def test_an_eml_file_is_attached_as_a_file(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    send(attachments={"saved.eml": "Subject: old\r\n\r\nbody\r\n"})
    (part,) = smtp_server.messages[0].message.iter_attachments()
    assert part.get_content_type() == "application/octet-stream"
    assert part.get_payload(decode=True) == b"Subject: old\r\n\r\nbody\r\n"


def test_a_pipe_is_not_called_a_directory(smtp_server, smtp_conn, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    smtp_conn(smtp_server)
    with pytest.raises(AttachmentError, match="is not a regular file"):
        send(attachments=str(fifo))


def test_json_text_with_nan_becomes_valid_json(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    send(attachments={"filename": "d.json", "content": '{"x": NaN, "y": [1, Infinity]}'})
    (part,) = smtp_server.messages[0].message.iter_attachments()
    raw = part.get_payload(decode=True).decode()
    assert json.loads(raw, parse_constant=lambda c: pytest.fail(c)) == {"x": None, "y": [1, None]}


@pytest.mark.parametrize(
    ("extra", "shows"),
    [
        ({"timeout": 1e300}, "timeout 1e+300 must be at most 3600"),
        ({"retry_limit": 10**12}, "retry_limit 1000000000000 must be at most 100"),
        ({"local_hostname": "h" * 600}, "local_hostname"),
        ({"max_attachment_mb": 100000}, "max_attachment_mb 100000 must be at most 1024"),
    ],
)
def test_absurd_connection_numbers_are_refused_before_connecting(extra, shows, smtp_server, smtp_conn):
    smtp_conn(smtp_server, **extra)
    ok, text = SmtpConnHook().test_connection()
    assert not ok and shows in text
    assert smtp_server.connections == 0


@pytest.mark.parametrize(
    "value",
    [
        "\ufeff" + json.dumps({"type": "x", "private_key": KEY_MATERIAL}),
        json.dumps(json.dumps({"type": "x", "private_key": KEY_MATERIAL})),
        "not json " + KEY_MATERIAL,
    ],
)
def test_a_malformed_service_account_key_is_never_echoed(value, smtp_server, smtp_conn):
    smtp_conn(smtp_server, login="reports@example.org", oauth2_provider="google", service_account_json=value)
    with pytest.raises(SmtpConfigError) as raised:
        SmtpConnHook().settings  # noqa: B018
    assert "PRIVATE KEY" not in str(raised.value) and "MIIEvQ" not in str(raised.value)
    assert "service_account_json" in str(raised.value)


def test_the_sink_escapes_attachment_names_in_its_line(tmp_path):
    from airflow_provider_smtpconn.cli.sink import describe_message

    data = (
        b"From: a@example.org\r\nTo: b@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\n'
        b"Content-Type: text/plain\r\nContent-Disposition: attachment; filename*=utf-8''a%0Astored%3D%2Fetc\r\n\r\n"
        b"y\r\n--b--\r\n"
    )
    line = describe_message(data, "a@example.org", ["b@example.org"])
    assert "\n" not in line and "a\\nstored=/etc" in line
