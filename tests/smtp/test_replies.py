"""smtp/replies.py through the session: a permanent reply is raised at once, refused recipients are reported (or
raised when all are refused) with the server's replies, and a message over the advertised SIZE fails before DATA."""

from __future__ import annotations

import pytest
from support.fault_server import FaultServer
from support.sessions import message, send

from airflow_provider_smtpconn.exceptions import (
    MessageTooLargeError,
    RecipientsRefusedError,
    SmtpPermanentError,
)


@pytest.mark.parametrize("command", ["MAIL", "DATA", "EOD"])
def test_550_is_not_retried(smtp_server, command):
    smtp_server.reply(command, "550 5.7.1 Policy rejection")
    with pytest.raises(SmtpPermanentError, match="550 5.7.1 Policy rejection"):
        send(smtp_server)
    assert smtp_server.messages == []
    assert smtp_server.commands.count("MAIL") == 1


def test_some_recipients_refused_is_reported_not_raised(smtp_server):
    smtp_server.reply("RCPT", "550 5.1.1 No such user", times=None, address="ghost@example.org")
    result = send(smtp_server, message(to="a@example.org, ghost@example.org"))
    assert result.accepted == ["a@example.org"]
    assert result.refused == {"ghost@example.org": (550, "5.1.1 No such user")}
    assert smtp_server.messages[0].rcpt_tos == ["a@example.org"]


def test_all_recipients_refused_raises_with_the_replies(smtp_server):
    smtp_server.reply("RCPT", "550 5.1.1 No such user", times=None)
    with pytest.raises(RecipientsRefusedError, match="refused every recipient.*550 5.1.1 No such user") as info:
        send(smtp_server, message(to="x@example.org, y@example.org"))
    assert set(info.value.refused) == {"x@example.org", "y@example.org"}
    assert smtp_server.messages == []


def test_message_over_the_advertised_size_fails_before_data():
    with FaultServer(size_limit=2000) as server:
        with pytest.raises(MessageTooLargeError, match=r"is \d+ bytes but .* at most 2000 bytes"):
            send(server, message(body="x" * 3000 + "\n"))
        assert "MAIL" not in server.commands and server.messages == []
        send(server)
        assert "SIZE=" in " ".join(server.messages[0].mail_options).upper()
