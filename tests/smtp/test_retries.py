"""The session's retry rules against a scripted server: a transient failure before the final dot is retried on a
new connection and delivered once; nothing after the final dot is ever resent; giving up names the attempts."""

from __future__ import annotations

import time

import pytest
from support.sessions import send

from airflow_provider_smtpconn.exceptions import (
    DeliveryUnknownError,
    NoGreetingError,
    SmtpNetworkError,
    SmtpTemporaryError,
)


def test_421_greeting_is_retried_with_a_new_connection_and_delivered_once(smtp_server):
    smtp_server.reply("greeting", "421 4.3.2 Too busy, try later")
    result = send(smtp_server)
    assert smtp_server.connections == 2
    assert smtp_server.count(result.message_id) == 1


@pytest.mark.parametrize("command", ["MAIL", "RCPT", "DATA", "EOD"])
def test_451_is_retried_and_delivered_exactly_once(smtp_server, command):
    smtp_server.reply(command, "451 4.3.0 Try again later")
    result = send(smtp_server)
    assert smtp_server.count(result.message_id) == 1
    assert len(smtp_server.messages) == 1


def test_transient_failures_give_up_after_retry_limit(smtp_server):
    smtp_server.reply("MAIL", "451 4.3.0 Try again later", times=None)
    with pytest.raises(SmtpTemporaryError, match="Gave up after 3 attempts"):
        send(smtp_server, retry_limit=2)
    assert smtp_server.commands.count("MAIL") == 3
    assert smtp_server.messages == []


def test_connection_dropped_after_the_body_is_not_resent(smtp_server):
    smtp_server.drop("after_body")
    with pytest.raises(DeliveryUnknownError, match="may or may not have been delivered") as info:
        send(smtp_server)
    assert info.value.message_id and info.value.message_id in str(info.value)
    assert smtp_server.commands.count("DATA") == 1  # no second attempt


def test_server_that_never_greets_times_out_within_the_timeout(black_hole):
    started = time.monotonic()
    with pytest.raises(
        NoGreetingError, match="no greeting within 0.5 s: the server may expect TLS from the first byte"
    ):
        send(black_hole, timeout=0.5, retry_limit=0)
    assert time.monotonic() - started < 0.5 + 1.0


def test_connection_refused_is_retried_then_a_clear_error(free_port):
    class Closed:
        host, port = "127.0.0.1", free_port

    with pytest.raises(SmtpNetworkError, match="connection refused. Gave up after 2 attempts"):
        send(Closed, retry_limit=1)
