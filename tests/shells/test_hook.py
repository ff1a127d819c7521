"""SmtpConnHook: connections as Airflow stores them, sessions, test_connection, masking, provider discovery, and the
AUTH mechanism and TLS mode a connection chooses."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support.fault_server import FaultServer
from support.messages import composed

from airflow_provider_smtpconn.exceptions import SmtpAuthError, SmtpConfigError, SmtpTLSError
from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook, settings_from_connection
from airflow_provider_smtpconn.sending import EmailRequest, send_email


def connection(**fields):
    from airflow.sdk import Connection

    fields.setdefault("conn_id", "c")
    fields.setdefault("conn_type", "smtpconn")
    return Connection(**fields)


def test_settings_from_a_ui_connection_with_typed_extras():
    conn = connection(
        host="smtp.example.com",
        login="reports@example.com",
        password="pw-123456",
        extra='{"tls_mode": "implicit", "ignore_self_signed": true, "timeout": 5.5, "retry_limit": 2}',
    )
    s = settings_from_connection(conn)
    assert (s.host, s.port, s.tls_mode, s.username) == ("smtp.example.com", 465, "implicit", "reports@example.com")
    assert (s.ignore_self_signed, s.timeout, s.retry_limit) == (True, 5.5, 2)


def test_settings_from_a_uri_connection_where_every_extra_is_text():
    conn = connection(
        host="relay.example.com",
        port=2525,
        extra='{"tls_mode": "starttls", "ignore_self_signed": "false", "timeout": "12", "retry_limit": "0"}',
    )
    s = settings_from_connection(conn)
    assert (s.port, s.tls_mode, s.ignore_self_signed, s.timeout, s.retry_limit) == (2525, "starttls", False, 12, 0)


def test_defaults_follow_the_port_and_the_tls_mode():
    assert settings_from_connection(connection(host="h.example.com")).port == 587
    assert settings_from_connection(connection(host="h.example.com", port=465)).tls_mode == "implicit"
    assert settings_from_connection(connection(host="h.example.com", extra='{"tls_mode": "none"}')).port == 25


def test_xoauth2_token_from_access_token_extra():
    conn = connection(
        host="smtp.gmail.com", login="me@example.com", extra='{"auth_type": "xoauth2", "access_token": "ya29.abc"}'
    )
    s = settings_from_connection(conn)
    assert (s.auth_type, s.password) == ("xoauth2", "ya29.abc")
    assert "ya29.abc" not in repr(s)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('{"tls_mode": "ssl"}', "tls_mode 'ssl' is not one of starttls, implicit, none"),
        ('{"timeout": "soon"}', "timeout 'soon' is not a number"),
        ('{"retry_limit": -1}', "retry_limit -1 must be at least 0"),
        ('{"ignore_self_signed": "maybe"}', "ignore_self_signed 'maybe' is not true or false"),
        ("not json", "is not valid JSON"),
    ],
)
def test_invalid_connection_fields_name_the_field_and_value(extra, message):
    with pytest.raises(SmtpConfigError, match=message):
        settings_from_connection(connection(host="h.example.com", extra=extra))


def test_hook_session_sends_many_messages_over_one_connection(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    spec = {"sender": "a@example.org", "to": "b@example.org", "text": "x"}
    with SmtpConnHook() as hook:
        results = [hook.send(composed(subject=str(i), **spec)) for i in range(5)]
    assert smtp_server.connections == 1
    assert [m.message_id for m in smtp_server.messages] == [r.message_id for r in results]
    assert smtp_server.commands.count("QUIT") == 1


def test_send_without_a_session_opens_and_closes_its_own(smtp_server, smtp_conn):
    smtp_conn(smtp_server)
    SmtpConnHook().send(composed(sender="a@example.org", to="b@example.org", text="x"))
    assert len(smtp_server.messages) == 1
    assert smtp_server.commands[-1] == "QUIT"


def test_test_connection_success_reports_tls_and_user(starttls_server, smtp_conn, ca_pem_path):
    smtp_conn(starttls_server, login="alice", password="secret-pw", tls_mode="starttls", ca_bundle=ca_pem_path)
    ok, text = SmtpConnHook().test_connection()
    assert ok, text
    assert "STARTTLS (TLSv1." in text
    assert "authenticated as 'alice'" in text
    assert "MAIL" not in starttls_server.commands
    assert starttls_server.messages == []


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("closed_port", "connection refused"),
        ("bad_password", "rejected the credentials of 'alice'"),
        ("untrusted", "certificate of 127.0.0.1"),
        ("no_starttls", "does not offer STARTTLS"),
        ("bad_setting", "tls_mode 'tls' is not one of"),
        ("black_hole", "sent no greeting within 0.5 s: the server may expect TLS from the first byte"),
    ],
)
def test_test_connection_failures_say_what_failed_and_never_raise(
    case, expected, starttls_server, smtp_server, smtp_conn, free_port, black_hole
):
    class Closed:
        host, port = "127.0.0.1", free_port

    server, extra = {
        "closed_port": (Closed, {"password": "secret-pw"}),
        "bad_password": (starttls_server, {"password": "wrong-pw", "ignore_self_signed": True}),
        "untrusted": (starttls_server, {"password": "secret-pw"}),
        "no_starttls": (smtp_server, {"password": "secret-pw"}),
        "bad_setting": (smtp_server, {"password": "secret-pw", "tls_mode": "tls"}),
        "black_hole": (black_hole, {"password": "secret-pw", "timeout": 0.5}),
    }[case]
    extra.setdefault("tls_mode", "starttls")
    smtp_conn(server, login="alice", retry_limit=0, **extra)
    ok, text = SmtpConnHook().test_connection()
    assert not ok
    assert expected in text
    assert extra["password"] not in text


def test_secrets_are_registered_with_the_masker(smtp_server, smtp_conn):
    from airflow.sdk._shared.secrets_masker import redact

    smtp_conn(smtp_server, login="alice", password="hunter2-password", access_token="tok-0123456789")
    SmtpConnHook().connection  # noqa: B018 - fetching it registers the secrets
    assert redact("pw hunter2-password tok tok-0123456789") == "pw *** tok ***"


def test_airflow_connections_test_cli(smtp_server, free_port):
    from support.airflow_helpers import connection_json

    env = {
        **os.environ,
        "AIRFLOW_CONN_SMTP_UP": connection_json(smtp_server.host, smtp_server.port, tls_mode="none"),
        "AIRFLOW_CONN_SMTP_DOWN": connection_json("127.0.0.1", free_port, tls_mode="none", retry_limit=0),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
    }
    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    up, down = (
        subprocess.run([airflow, "connections", "test", conn], env=env, capture_output=True, text=True, timeout=120)
        for conn in ("smtp_up", "smtp_down")
    )
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Connection success!" in up.stdout
    assert "NOOP" in smtp_server.commands
    assert smtp_server.messages == []
    assert down.returncode == 1
    assert f"127.0.0.1:{free_port} failed while connecting: connection refused" in down.stdout + down.stderr


def test_provider_is_discovered_with_its_connection_form():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    assert "airflow-provider-smtpconn" in manager.providers
    hook = ProvidersManagerTaskRuntime().hooks["smtpconn"]
    assert hook.hook_class_name == "airflow_provider_smtpconn.hooks.smtp.SmtpConnHook"
    assert hook.connection_id_attribute_name == "smtp_conn_id"
    widgets = manager.connection_form_widgets
    for field in ("tls_mode", "ignore_self_signed", "ca_bundle", "from_email", "timeout", "retry_limit"):
        assert f"extra__smtpconn__{field}" in widgets
    assert widgets["extra__smtpconn__access_token"].is_sensitive
    behaviour = manager.field_behaviours["smtpconn"]
    assert "schema" in behaviour["hidden_fields"]
    assert behaviour["relabeling"] == {"login": "Username"}


# -- the AUTH mechanism a connection chooses --------------------------------------------------------------


@pytest.fixture
def saslauthd_relay():
    """Advertises CRAM-MD5 LOGIN PLAIN but cannot verify CRAM-MD5, like Postfix on saslauthd."""
    mechanisms = ("CRAM-MD5", "LOGIN", "PLAIN")
    with FaultServer(auth={"alice": "pw"}, auth_mechanisms=mechanisms, cram_md5_works=False) as server:
        yield server


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize(("mechanism", "used"), [(None, "PLAIN"), ("auto", "PLAIN"), ("LOGIN", "LOGIN")])
def test_auth_mechanism_auto_prefers_plain_and_a_chosen_one_is_used(mechanism, used, saslauthd_relay, smtp_conn):
    extra = {} if mechanism is None else {"auth_mechanism": mechanism}
    smtp_conn(saslauthd_relay, login="alice", password="pw", **extra)
    send_email(EmailRequest(to="a@example.org", text="x"), SmtpConnHook())
    assert saslauthd_relay.auth_attempts == [(used, "alice", True)]
    assert len(saslauthd_relay.messages) == 1


@pytest.mark.usefixtures("airflow_db")
def test_a_rejected_mechanism_is_named_with_the_field_to_change_after_one_attempt(saslauthd_relay, smtp_conn):
    smtp_conn(saslauthd_relay, login="alice", password="pw", auth_mechanism="CRAM-MD5", retry_limit=3)
    with pytest.raises(SmtpAuthError) as raised:
        send_email(EmailRequest(to="a@example.org", text="x"), SmtpConnHook())
    text = str(raised.value)
    assert "CRAM-MD5" in text and "535" in text and "auth_mechanism" in text and "pw" not in text
    assert saslauthd_relay.auth_attempts == [("CRAM-MD5", "alice", False)]  # one attempt: no lockout
    assert saslauthd_relay.messages == []


@pytest.mark.usefixtures("airflow_db")
def test_cram_md5_works_where_the_server_can_verify_it(smtp_conn):
    with FaultServer(auth={"alice": "pw"}, auth_mechanisms=("CRAM-MD5",)) as server:
        smtp_conn(server, login="alice", password="pw")
        send_email(EmailRequest(to="a@example.org", text="x"), SmtpConnHook())
        assert server.auth_attempts == [("CRAM-MD5", "alice", True)]


@pytest.mark.usefixtures("airflow_db")
def test_unknown_auth_mechanism_is_refused_before_connecting(smtp_server, smtp_conn):
    smtp_conn(smtp_server, login="alice", password="pw", auth_mechanism="DIGEST-MD5")
    ok, text = SmtpConnHook().test_connection()
    assert not ok and "auth_mechanism 'DIGEST-MD5' is not one of PLAIN, LOGIN, CRAM-MD5 or auto" in text
    assert smtp_server.connections == 0


# -- TLS mode and the Test button: errors that lead to the fix ------------------------------------------------


@pytest.mark.usefixtures("airflow_db")
def test_empty_tls_mode_without_starttls_says_where_the_mode_came_from(smtp_conn, server_tls):
    with FaultServer(starttls_context=server_tls, offer_starttls=False) as server:
        smtp_conn(server, tls_mode=None)
        with pytest.raises(SmtpTLSError) as raised:
            send_email(EmailRequest(to="a@example.org", text="x"), SmtpConnHook())
    text = str(raised.value)
    assert f"the automatic choice for port {server.port}" in text
    assert "'implicit'" in text and "'none'" in text


@pytest.mark.usefixtures("airflow_db")
def test_test_button_checks_every_field_a_send_checks_before_connecting(smtp_server, smtp_conn, monkeypatch):
    smtp_conn(smtp_server, max_attachment_mb="ten")
    ok, text = SmtpConnHook().test_connection()
    assert not ok and "max_attachment_mb 'ten' is not a number" in text
    smtp_conn(smtp_server, from_email="not an address")
    ok, text = SmtpConnHook().test_connection()
    assert not ok and "from_email" in text
    assert smtp_server.connections == 0


@pytest.mark.usefixtures("airflow_db")
def test_automatic_tls_mode_from_the_form_means_by_port(smtp_server, smtp_conn):
    smtp_conn(smtp_server, tls_mode="auto")
    assert SmtpConnHook().settings.tls_mode == "starttls" and SmtpConnHook().settings.tls_mode_from_port
