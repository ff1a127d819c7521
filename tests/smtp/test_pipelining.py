"""Pipelining (RFC 2920) against the test server on loopback: round trips counted at the server (its flights:
what the client wrote between two of its replies), every reply attributed to its command, and the final dot
kept as each message's commit point when the connection is lost with replies outstanding.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from typing import TYPE_CHECKING

import pytest
from support.fault_server import FaultServer

from airflow_provider_smtpconn.exceptions import (
    DeliveryUnknownError,
    MessageTooLargeError,
    RecipientsRefusedError,
    SmtpAuthError,
    SmtpNetworkError,
    SmtpPermanentError,
)
from airflow_provider_smtpconn.message.email_message import from_email_message
from airflow_provider_smtpconn.smtp.session import SmtpSession
from airflow_provider_smtpconn.smtp.settings import SmtpSettings

if TYPE_CHECKING:
    from airflow_provider_smtpconn.message.writer import WireMessage


def settings(server, **overrides) -> SmtpSettings:
    values = {"host": server.host, "port": server.port, "tls_mode": "none", "retry_wait": 0, "timeout": 5}
    values.update(overrides)
    return SmtpSettings(**values)


def message(n: int = 0, to: str = "to@example.org", body: str = "Hi there.\n") -> WireMessage:
    return from_email_message(stdlib_message(n, to, body))


def stdlib_message(n: int = 0, to: str = "to@example.org", body: str = "Hi there.\n") -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Sender <sender@example.org>"
    msg["To"] = to
    msg["Subject"] = f"message {n}"
    msg["Message-ID"] = f"<m{n}@example.org>"
    msg.set_content(body)
    return msg


def subjects(server) -> list[str]:
    return [m.message["Subject"] for m in server.messages]


class CountingServer(FaultServer):
    """The test server, calling ``on_accept(n)`` as it accepts the n-th message (before its reply goes out)."""

    def __init__(self, on_accept=None, **kwargs):
        super().__init__(**kwargs)
        self.on_accept = on_accept
        self.accepted = 0

    def _accept(self, received):
        super()._accept(received)
        self.accepted += 1
        if self.on_accept is not None:
            self.on_accept(self.accepted)


# -- round trips ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "mode", "per_message"),
    [
        pytest.param(False, "auto", 4, id="not-offered-lock-step"),
        pytest.param(True, "off", 4, id="offered-but-off"),
        pytest.param(True, "auto", 2, id="pipelined"),
    ],
)
def test_one_message_costs_four_round_trips_in_lock_step_and_two_pipelined(offered, mode, per_message):
    with FaultServer(pipelining=offered) as server:
        with SmtpSession(settings(server, pipelining=mode)) as session:
            session.send(message())
        assert server.round_trips() == per_message
        assert server.messages[0].rcpt_tos == ["to@example.org"]
        envelope = ["MAIL", "RCPT", "DATA"]
        flights = [f for f in server.flights[0] if f != ["EHLO"] and f != ["QUIT"]]
        assert flights == ([envelope, ["."]] if per_message == 2 else [[verb] for verb in [*envelope, "."]])


def test_a_stream_of_twenty_costs_one_round_trip_per_message():
    with FaultServer() as server:
        with SmtpSession(settings(server)) as session:
            outcomes = session.send_many([message(i) for i in range(20)])
        assert [o.ok for o in outcomes] == [True] * 20
        assert [o.message_id for o in outcomes] == [f"<m{i}@example.org>" for i in range(20)]
        assert subjects(server) == [f"message {i}" for i in range(20)]
        assert server.round_trips() == 21  # the first envelope, then each final dot with the next envelope
        assert server.flights[0][2] == [".", "MAIL", "RCPT", "DATA"]
        assert server.connections == 1


def test_a_stream_without_pipelining_is_lock_step_and_delivers_the_same():
    with FaultServer(pipelining=False) as server:
        with SmtpSession(settings(server)) as session:
            outcomes = session.send_many([message(i) for i in range(5)])
        assert all(o.ok for o in outcomes) and subjects(server) == [f"message {i}" for i in range(5)]
        assert server.round_trips() == 20


def test_a_server_that_answers_one_command_at_a_time_gets_the_same_result():
    with FaultServer(reply_gap=0.01) as server:
        server.reply("RCPT", "550 5.1.1 No such user", times=None, address="ghost@example.org")
        with SmtpSession(settings(server)) as session:
            outcomes = session.send_many([message(i, to="a@example.org, ghost@example.org") for i in range(4)])
        refused = {"ghost@example.org": (550, "5.1.1 No such user")}
        assert [o.result.refused for o in outcomes if o.result] == [refused] * 4
        assert [m.rcpt_tos for m in server.messages] == [["a@example.org"]] * 4
        assert server.round_trips() == 5


# -- refusals inside a pipelined group ------------------------------------------------------------------------


def test_one_of_three_recipients_refused_is_attributed_to_it():
    with FaultServer() as server:
        server.reply("RCPT", "550 5.1.1 No such user", address="b@example.org")
        with SmtpSession(settings(server)) as session:
            result = session.send(message(to="a@example.org, b@example.org, c@example.org"))
        assert result.accepted == ["a@example.org", "c@example.org"]
        assert result.refused == {"b@example.org": (550, "5.1.1 No such user")}
        assert server.messages[0].rcpt_tos == ["a@example.org", "c@example.org"]
        assert server.flights[0][1:3] == [["MAIL", "RCPT", "RCPT", "RCPT", "DATA"], ["."]]


@pytest.mark.parametrize("data_reply", ["554 5.5.1 Error: no valid recipients", "354 Go ahead"])
def test_every_recipient_refused_sends_no_body_and_the_session_goes_on(data_reply):
    with FaultServer() as server:
        server.reply("RCPT", "550 5.1.1 No such user", times=2)
        server.reply("DATA", data_reply)
        with SmtpSession(settings(server)) as session:
            with pytest.raises(RecipientsRefusedError, match="refused every recipient") as caught:
                session.send(message(1, to="x@example.org, y@example.org"))
            session.send(message(2))  # the same session, still in step
        assert set(caught.value.refused) == {"x@example.org", "y@example.org"}
        assert subjects(server) == ["message 2"] and server.connections == 1
        # A server that answers 354 anyway gets an empty data section: the final dot alone, to no recipient.
        assert server.data_without_recipients == ([b""] if data_reply.startswith("354") else [])
        assert "RSET" in server.commands if data_reply.startswith("554") else "RSET" not in server.commands


def test_a_refused_mail_from_is_named_and_the_session_goes_on():
    with FaultServer() as server:
        server.reply("MAIL", "550 5.7.1 Sender not allowed")
        with SmtpSession(settings(server)) as session:
            with pytest.raises(SmtpPermanentError, match=r"refused MAIL FROM sender@example\.org: 550 5\.7\.1"):
                session.send(message(1))
            session.send(message(2))
        assert subjects(server) == ["message 2"] and server.connections == 1
        assert server.flights[0][1] == ["MAIL", "RCPT", "DATA"]  # RCPT and DATA answered (503), then RSET


def test_a_stream_reports_each_message_on_its_own_and_delivers_the_others():
    with FaultServer(size_limit=3000) as server:
        server.reply("RCPT", "550 5.1.1 No such user", times=None, address="ghost@example.org")
        batch = [message(0), message(1, to="ghost@example.org"), message(2, body="x" * 4000 + "\n"), message(3)]
        with SmtpSession(settings(server)) as session:
            outcomes = session.send_many(batch)
        assert [o.ok for o in outcomes] == [True, False, False, True]
        assert isinstance(outcomes[1].error, RecipientsRefusedError)
        assert isinstance(outcomes[2].error, MessageTooLargeError)
        assert subjects(server) == ["message 0", "message 3"] and server.connections == 1


def test_a_4xx_to_a_final_dot_in_a_stream_is_retried_once_and_delivered_once():
    with CountingServer() as server:
        server.on_accept = lambda n: server.reply("EOD", "451 4.3.0 Try again later") if n == 1 else None
        with SmtpSession(settings(server)) as session:
            outcomes = session.send_many([message(i) for i in range(4)])
        assert all(o.ok for o in outcomes)
        assert sorted(subjects(server)) == [f"message {i}" for i in range(4)]
        assert all(server.count(f"<m{i}@example.org>") == 1 for i in range(4))
        assert len(server.rejected) == 1 and server.rejected[0].message["Subject"] == "message 1"


# -- the connection lost with replies outstanding -------------------------------------------------------------


def test_a_connection_lost_in_a_stream_leaves_each_message_unknown_or_not_sent():
    """The server drops the connection as the 3rd final dot arrives, the 4th envelope in the same write."""
    with CountingServer() as server:
        server.on_accept = lambda n: server.drop("after_body") if n == 2 else None
        with SmtpSession(settings(server)) as session:
            outcomes = session.send_many([message(i) for i in range(5)])
        assert [o.ok for o in outcomes] == [True, True, False, True, True]
        assert isinstance(outcomes[2].error, DeliveryUnknownError)  # its dot was sent: never resent
        assert subjects(server) == ["message 0", "message 1", "message 3", "message 4"]
        first, second = server.flights
        assert [".", "MAIL", "RCPT", "DATA"] in first  # the 4th envelope went with the 3rd dot ...
        mails_after = sum(flight.count("MAIL") for flight in second)
        assert mails_after == 2 and server.connections == 2  # ... and only the 4th and 5th went again


def test_with_no_retries_left_the_messages_not_sent_say_so_and_none_is_unknown():
    with CountingServer() as server:
        server.on_accept = lambda n: server.drop("after_body") if n == 2 else None
        with SmtpSession(settings(server, retry_limit=0)) as session:
            outcomes = session.send_many([message(i) for i in range(5)])
        assert [type(o.error).__name__ if o.error else "ok" for o in outcomes] == [
            "ok", "ok", "DeliveryUnknownError", "SmtpNetworkError", "SmtpNetworkError",
        ]  # fmt: skip
        assert outcomes[3].error is outcomes[4].error  # the session stopped at the 4th: neither was sent
        assert subjects(server) == ["message 0", "message 1"] and server.connections == 1


def test_a_session_that_cannot_authenticate_gives_every_message_the_error():
    with FaultServer(auth={"alice": "right"}) as server:
        with SmtpSession(settings(server, username="alice", password="wrong")) as session:
            outcomes = session.send_many([message(i) for i in range(3)])
        assert all(isinstance(o.error, SmtpAuthError) for o in outcomes)
        assert [o.message_id for o in outcomes] == [f"<m{i}@example.org>" for i in range(3)]
        assert server.messages == [] and server.connections == 1


def test_on_commit_precedes_each_final_dot_and_its_failure_stops_the_stream():
    committed: list[str] = []

    def on_commit(message_id: str) -> None:
        if message_id == "<m2@example.org>":
            raise OSError("journal disk full")
        committed.append(message_id)

    with FaultServer() as server:
        with SmtpSession(settings(server)) as session:
            outcomes = session.send_many([message(i) for i in range(4)], on_commit=on_commit)
        assert committed == ["<m0@example.org>", "<m1@example.org>"]
        assert [o.ok for o in outcomes] == [True, True, False, False]
        assert isinstance(outcomes[2].error, OSError) and outcomes[3].error is outcomes[2].error
        assert subjects(server) == ["message 0", "message 1"]


def test_a_connection_refused_session_is_one_error_for_every_message(free_port):
    closed = SmtpSettings(host="127.0.0.1", port=free_port, tls_mode="none", retry_limit=1, retry_wait=0)
    with SmtpSession(closed) as session:
        outcomes = session.send_many([message(i) for i in range(3)])
    assert {type(o.error) for o in outcomes} == {SmtpNetworkError}
    assert "Gave up after 2 attempts" in str(outcomes[0].error)


# -- the check and the setting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "mode", "says"),
    [
        (True, "auto", "the session pipelines (the server offers PIPELINING)"),
        (True, "off", "one command at a time (pipelining is off for this connection)"),
        (False, "auto", "one command at a time (the server does not offer PIPELINING)"),
    ],
)
def test_the_check_says_whether_the_session_pipelines(offered, mode, says):
    with FaultServer(pipelining=offered) as server:
        text = SmtpSession(settings(server, pipelining=mode)).check()
    assert f"; {says}; the server answered NOOP with 250." in text


def test_an_unknown_pipelining_mode_is_refused_before_connecting():
    from airflow_provider_smtpconn.exceptions import SmtpConfigError
    from airflow_provider_smtpconn.smtp.settings import settings_from_extras

    with pytest.raises(SmtpConfigError, match="pipelining 'sometimes' is not one of off or auto"):
        settings_from_extras({"pipelining": "sometimes"}, host="h", port=25, login=None, password=None)
    assert settings_from_extras({"pipelining": "OFF"}, host="h", port=25, login=None, password=None).pipelining == "off"
    assert settings_from_extras({}, host="h", port=25, login=None, password=None).pipelining == "auto"


# -- through the hook -----------------------------------------------------------------------------------------


def test_the_hooks_send_many_pipelines_over_the_connection_and_honours_pipelining_off(smtp_conn):
    from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook

    with FaultServer() as server:
        server.reply("RCPT", "550 5.1.1 No such user", address="ghost@example.org")
        smtp_conn(server)
        committed: list[str] = []
        batch = [stdlib_message(0), stdlib_message(1, to="ghost@example.org"), stdlib_message(2)]
        outcomes = SmtpConnHook().send_many(batch, on_commit=committed.append)
        assert [o.ok for o in outcomes] == [True, False, True]
        assert committed == ["<m0@example.org>", "<m2@example.org>"]  # no dot for the refused one
        assert subjects(server) == ["message 0", "message 2"]
        assert server.round_trips() == 4 and server.commands[-1] == "QUIT"

        server.reset()
        smtp_conn(server, pipelining="off")
        with SmtpConnHook() as hook:
            assert all(o.ok for o in hook.send_many([message(3), message(4)]))
        assert server.round_trips() == 8 and server.connections == 1
