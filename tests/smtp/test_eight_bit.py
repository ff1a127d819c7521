"""An 8-bit body handed to the session as a standard library message, to a server that offers neither 8BITMIME nor
SMTPUTF8 (RFC 6152 forbids sending it raw there): re-encoded 7-bit safe, it arrives and reads back as written; what
cannot be re-encoded (a nested message with 8-bit data) is refused in one sentence before its body is sent."""

from __future__ import annotations

import pytest
from support.fault_server import FaultServer
from support.sessions import send, stdlib_message

from airflow_provider_smtpconn.exceptions import SmtpPermanentError

TEXT = "Gr\u00fc\u00dfe aus K\u00f6ln \u2014 \u65e5\u672c\u8a9e\n"


def eight_bit_message():
    message = stdlib_message("to@example.org", body=TEXT)
    assert message["Content-Transfer-Encoding"] == "8bit"  # what the standard library chose
    return message


def nested_eight_bit_message():
    message = stdlib_message("to@example.org", body="see the forwarded message\n")
    message.add_attachment(eight_bit_message())
    return message


def test_an_8bit_body_reaches_a_7bit_server_re_encoded_and_reads_back_the_same():
    with FaultServer(eightbitmime=False, smtputf8=False) as server:
        send(server, eight_bit_message())
    (received,) = server.messages
    assert received.data.isascii()
    assert "BODY=8BITMIME" not in received.mail_options
    assert received.message["Content-Transfer-Encoding"] == "quoted-printable"
    assert received.message.get_content().replace("\r\n", "\n") == TEXT


def test_what_cannot_be_re_encoded_is_refused_by_a_7bit_server_before_its_body():
    with FaultServer(eightbitmime=False, smtputf8=False) as server:
        with pytest.raises(SmtpPermanentError, match="offers neither 8BITMIME nor SMTPUTF8") as raised:
            send(server, nested_eight_bit_message())
        assert server.messages == [] and "DATA" not in server.commands
    assert str(raised.value).count(". ") == 0


def test_what_cannot_be_re_encoded_goes_as_8bitmime_where_offered():
    with FaultServer() as server:
        send(server, nested_eight_bit_message())
    (received,) = server.messages
    assert "BODY=8BITMIME" in received.mail_options
