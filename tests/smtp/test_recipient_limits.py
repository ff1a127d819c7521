"""smtp/recipients.py with the stream: a message with more recipients than one transaction takes is sent in further
transactions of the same message on the same session, every recipient once, one Message-ID, no Bcc header; the
result lists every recipient accepted or refused. Against the loopback server capped as relays cap (452 4.5.3),
pipelined and in lock-step, and split up front by ``max_recipients_per_message``."""

from __future__ import annotations

import pytest
from support.fault_server import FaultServer
from support.messages import composed
from support.sessions import settings

from airflow_provider_smtpconn.exceptions import RecipientsRefusedError
from airflow_provider_smtpconn.smtp.replies import too_many_recipients
from airflow_provider_smtpconn.smtp.session import SmtpSession

TO = [f"to{i:03}@example.org" for i in range(50)]
CC = [f"cc{i:03}@example.org" for i in range(50)]
BCC = [f"bcc{i:03}@example.org" for i in range(50)]
EVERYONE = TO + CC + BCC


def wide_message(subject="To everyone"):
    return composed(to=TO, cc=CC, bcc=BCC, subject=subject, text="Hello all.\n")


def delivered(server) -> list[str]:
    return [rcpt for message in server.messages for rcpt in message.rcpt_tos]


def assert_each_once_one_message_id_no_bcc(server, message):
    assert sorted(delivered(server)) == sorted(EVERYONE)  # every recipient, each once
    assert {m.message_id for m in server.messages} == {message.message_id}
    for received in server.messages:
        assert received.data == message.as_bytes()  # the same bytes in every transaction
        assert "Bcc" not in received.message and b"bcc0" not in received.data


@pytest.mark.parametrize("pipelining", ["auto", "off"])
def test_a_server_capped_at_100_gets_150_recipients_in_two_transactions_of_one_session(pipelining):
    message = wide_message()
    with FaultServer(max_recipients=100) as server, SmtpSession(settings(server, pipelining=pipelining)) as session:
        result = session.send(message)

    assert_each_once_one_message_id_no_bcc(server, message)
    assert [len(m.rcpt_tos) for m in server.messages] == [100, 50]
    assert server.connections == 1
    assert sorted(result.accepted) == sorted(EVERYONE) and result.refused == {}
    rcpts = server.commands.count("RCPT")
    # Pipelined, every RCPT of the first transaction was written before the first 452 came back; in lock-step the
    # client stops at the first 452 and asks for the rest in the next transaction.
    assert rcpts == (150 + 50 if pipelining == "auto" else 101 + 50)


def test_max_recipients_per_message_splits_up_front_without_a_452():
    message = wide_message()
    with FaultServer() as server, SmtpSession(settings(server, max_recipients_per_message=60)) as session:
        result = session.send(message)

    assert_each_once_one_message_id_no_bcc(server, message)
    assert [len(m.rcpt_tos) for m in server.messages] == [60, 60, 30]
    assert server.commands.count("RCPT") == 150 and len(result.accepted) == 150


def test_refusals_in_a_later_transaction_are_in_the_one_result():
    message = wide_message()
    with FaultServer(max_recipients=100) as server, SmtpSession(settings(server)) as session:
        server.reply("RCPT", "550 5.1.1 No such user", times=None, address="bcc049@example.org")
        result = session.send(message)

    assert result.refused == {"bcc049@example.org": (550, "5.1.1 No such user")}
    assert sorted(result.accepted + list(result.refused)) == sorted(EVERYONE)
    assert "bcc049@example.org" not in delivered(server)


def test_a_later_transaction_whose_recipients_are_all_refused_leaves_the_first_delivered():
    message = wide_message()
    with FaultServer(max_recipients=100) as server, SmtpSession(settings(server)) as session:
        for rcpt in BCC:
            server.reply("RCPT", "550 5.7.1 Relaying denied", times=None, address=rcpt)
        result = session.send(message)

    assert sorted(result.accepted) == sorted(TO + CC)
    assert set(result.refused) == set(BCC)
    assert len(server.messages) == 1


def test_a_later_transaction_rejected_at_its_final_dot_refuses_only_its_recipients():
    message = wide_message()
    with FaultServer() as server, SmtpSession(settings(server, max_recipients_per_message=100)) as session:
        server.reply("EOD", "250 2.0.0 queued")
        server.reply("EOD", "554 5.7.1 Message rejected as spam")
        result = session.send(message)

    assert sorted(result.accepted) == sorted(EVERYONE[:100])
    assert set(result.refused) == set(EVERYONE[100:])
    assert result.refused[BCC[-1]][0] == 554


def test_every_recipient_refused_across_the_transactions_is_an_error_naming_them_all():
    message = wide_message()
    with FaultServer(max_recipients=100) as server, SmtpSession(settings(server)) as session:
        server.reply("RCPT", "550 5.1.1 No such user", times=None)
        with pytest.raises(RecipientsRefusedError) as raised:
            session.send(message)
    assert set(raised.value.refused) == set(EVERYONE)
    assert server.messages == []


def test_a_stream_of_wide_messages_keeps_their_order_and_recipients():
    messages = [wide_message(), composed(to="one@example.org", text="x"), wide_message(subject="Again")]
    with FaultServer(max_recipients=100) as server, SmtpSession(settings(server)) as session:
        outcomes = session.send_many(messages)

    assert [len(o.raise_for_error().accepted) for o in outcomes] == [150, 1, 150]
    assert [m.message_id for m in server.messages] == [messages[0].message_id] * 2 + [messages[1].message_id] + [
        messages[2].message_id
    ] * 2
    assert server.connections == 1


@pytest.mark.parametrize(
    ("code", "text", "too_many"),
    [
        (452, "4.5.3 Too many recipients", True),
        (452, "Too many recipients", True),
        (452, "4.2.2 Mailbox full", False),
        (452, "4.3.1 Insufficient system storage", False),
        (552, "5.5.3 Too many recipients", True),
        (552, "5.2.2 Mailbox full", False),
        (450, "4.5.3 Too many recipients", False),
    ],
)
def test_what_counts_as_too_many_recipients(code, text, too_many):
    assert too_many_recipients(code, text.encode()) is too_many


def test_a_connection_lost_in_a_later_transaction_retries_only_that_transaction():
    message = wide_message()
    with FaultServer() as server, SmtpSession(settings(server, max_recipients_per_message=100)) as session:
        server.reply("RCPT", "421 4.3.2 Shutting down", address=EVERYONE[100])
        result = session.send(message)

    assert_each_once_one_message_id_no_bcc(server, message)  # the first 100 were not sent again
    assert server.connections == 2 and len(result.accepted) == 150


def test_a_session_that_cannot_go_on_after_a_delivered_transaction_reports_the_rest_refused():
    message = wide_message()
    limited = {"max_recipients_per_message": 100, "retry_limit": 0}
    with FaultServer() as server, SmtpSession(settings(server, **limited)) as session:
        server.reply("RCPT", "421 4.3.2 Shutting down", address=EVERYONE[100])
        result = session.send(message)

    assert sorted(result.accepted) == sorted(EVERYONE[:100])
    assert set(result.refused) == set(EVERYONE[100:])
    code, text = result.refused[EVERYONE[-1]]
    assert code == 421 and text.startswith("not sent:")


def test_a_server_that_takes_no_recipient_at_all_is_a_temporary_failure_retried_then_raised():
    from airflow_provider_smtpconn.exceptions import SmtpTemporaryError

    message = composed(to=["a@example.org", "b@example.org"], text="x")
    with FaultServer(max_recipients=0) as server:
        with SmtpSession(settings(server, retry_limit=1)) as session, pytest.raises(SmtpTemporaryError) as raised:
            session.send(message)
        assert "took no recipient of this transaction: 452" in str(raised.value) and raised.value.code == 452
        assert server.messages == [] and server.commands.count("MAIL") == 2  # the first try and its one retry
