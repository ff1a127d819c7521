"""smtp/auth.py through the session: PLAIN, LOGIN and XOAUTH2 against a real server that verifies them; a failure
names the user, never the password or token, and is not retried."""

from __future__ import annotations

import pytest
from support.fault_server import FaultServer
from support.sessions import send

from airflow_provider_smtpconn.exceptions import (
    SmtpAuthError,
)


def test_auth_success_records_the_user(starttls_server):
    send(starttls_server, username="alice", password="secret-pw")
    assert starttls_server.auth_attempts[-1][1:] == ("alice", True)
    assert starttls_server.messages[0].authenticated_as == "alice"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_basic_auth_with_the_mechanism_the_server_offers(mechanism):
    with FaultServer(auth={"alice": "secret-pw"}, auth_mechanisms=(mechanism,)) as server:
        send(server, username="alice", password="secret-pw")
        with pytest.raises(SmtpAuthError, match="535"):
            send(server, username="alice", password="wrong-pw")
        assert server.auth_attempts == [(mechanism, "alice", True), (mechanism, "alice", False)]
        assert len(server.messages) == 1


def test_auth_failure_names_the_user_never_the_password(starttls_server):
    with pytest.raises(SmtpAuthError) as info:
        send(starttls_server, username="alice", password="wrong-pw")
    assert "'alice'" in str(info.value) and "535" in str(info.value)
    assert "wrong-pw" not in str(info.value)
    assert starttls_server.messages == []
    assert starttls_server.commands.count("AUTH") == 1  # permanent: not retried


def test_xoauth2_success_and_failure():
    with FaultServer(xoauth2={"bob@example.org": "ya29.token"}) as server:
        send(server, username="bob@example.org", password="ya29.token", auth_type="xoauth2")
        assert server.auth_attempts == [("XOAUTH2", "bob@example.org", True)]
        with pytest.raises(SmtpAuthError, match="rejected the credentials of 'bob@example.org'") as info:
            send(server, username="bob@example.org", password="expired-token", auth_type="xoauth2")
        assert "expired-token" not in str(info.value)
        assert len(server.messages) == 1
