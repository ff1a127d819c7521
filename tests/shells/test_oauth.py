"""OAuth2 token sources end to end: MSAL, google-auth and Authlib against a real HTTPS token endpoint on 127.0.0.1,
and a real SMTP server that accepts only the token that endpoint issued last (and stops honouring a session once its
token expired). Time is moved with a clock shared by the token sources and the endpoint, never waited for.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from support.fault_server import FaultServer
from support.token_endpoint import TokenEndpoint

from airflow_provider_smtpconn import oauth
from airflow_provider_smtpconn.exceptions import (
    SmtpAuthError,
    SmtpConfigError,
    SmtpPermanentError,
    TokenEndpointUnavailableError,
    TokenRefusedError,
)
from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook
from airflow_provider_smtpconn.message.email_message import from_email_message
from airflow_provider_smtpconn.oauth import base as oauth_base

if TYPE_CHECKING:
    from collections.abc import Iterator

USER = "reports@example.com"
CLIENT_ID = "app-2f6c0e"
SECRET = "cs~Secret-7a1d9e4b"
REFRESH = "rt-Refresh-5c3b8f21"
TENANT = "contoso-tenant"
SA_EMAIL = "mailer@project.iam.gserviceaccount.com"


class Clock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture(autouse=True)
def fresh_sources() -> Iterator[None]:
    oauth.clear_token_sources()
    yield
    oauth.clear_token_sources()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(oauth_base, "clock", fake)
    return fake


@pytest.fixture(scope="module")
def service_account_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def endpoint(server_tls, ca_pem_path, monkeypatch, clock, service_account_key) -> Iterator[TokenEndpoint]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_pem_path)  # requests trusts the test CA like a public one
    public = service_account_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with TokenEndpoint(
        server_tls,
        clients={CLIENT_ID: SECRET},
        refresh_tokens={REFRESH: CLIENT_ID},
        service_accounts={SA_EMAIL: public.decode()},
        clock=clock,
    ) as ep:
        yield ep


@pytest.fixture
def mail_server(endpoint: TokenEndpoint) -> Iterator[FaultServer]:
    with FaultServer(xoauth2=endpoint.accepts) as server:
        yield server


def service_account_json(endpoint: TokenEndpoint, key: rsa.RSAPrivateKey) -> str:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "project",
            "private_key_id": "k1",
            "private_key": pem.decode(),
            "client_email": SA_EMAIL,
            "client_id": "1234567890",
            "token_uri": endpoint.token_url,
        }
    )


def provider_extras(provider: str, endpoint: TokenEndpoint, key: rsa.RSAPrivateKey | None = None) -> dict:
    if provider == "microsoft":
        return {
            "oauth2_provider": "microsoft",
            "tenant_id": TENANT,
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "oauth2_authority": endpoint.base_url,
        }
    if provider == "google_service_account":
        assert key is not None
        return {"oauth2_provider": "google", "service_account_json": service_account_json(endpoint, key)}
    if provider == "google_refresh_token":
        return {
            "oauth2_provider": "google",
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "refresh_token": REFRESH,
            "oauth2_token_url": endpoint.token_url,
        }
    if provider == "token_url_client_credentials":
        return {
            "oauth2_provider": "token_url",
            "oauth2_token_url": endpoint.token_url,
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "oauth2_scope": "smtp.send",
        }
    assert provider == "token_url_refresh_token"
    return {
        "oauth2_provider": "token_url",
        "oauth2_token_url": endpoint.token_url,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "refresh_token": REFRESH,
    }


def message(i: int = 0) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = USER
    msg["To"] = "ops@example.org"
    msg["Subject"] = f"report {i}"
    msg.set_content(f"body {i}\n")
    return msg


GRANTS = {
    "microsoft": ("client_credentials", "https://outlook.office365.com/.default", f"/{TENANT}/oauth2/v2.0/token"),
    "google_service_account": ("urn:ietf:params:oauth:grant-type:jwt-bearer", None, "/token"),
    "google_refresh_token": ("refresh_token", "https://mail.google.com/", "/token"),
    "token_url_client_credentials": ("client_credentials", "smtp.send", "/token"),
    "token_url_refresh_token": ("refresh_token", None, "/token"),
}


# -- each grant delivers ------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", list(GRANTS))
def test_each_grant_delivers_with_the_token_the_endpoint_issued_last(
    provider, endpoint, mail_server, smtp_conn, service_account_key
):
    smtp_conn(mail_server, login=USER, **provider_extras(provider, endpoint, service_account_key))
    SmtpConnHook().send(message())

    grant, scope, path = GRANTS[provider]
    [request] = endpoint.requests
    assert (request.grant_type, request.path) == (grant, path)
    if scope is not None:
        assert scope in (request.scope or "").split()
    assert mail_server.auth_attempts == [("XOAUTH2", USER, True)]
    [received] = mail_server.messages
    assert (received.authenticated_as, received.message["Subject"]) == (USER, "report 0")
    if provider == "microsoft":
        assert endpoint.discoveries == 1 and request.client_auth == "post"
    if provider.startswith("token_url"):
        assert request.client_auth == "basic"


def test_google_service_account_asserts_delegation_to_the_login_from_a_key_file(
    endpoint, mail_server, smtp_conn, service_account_key, tmp_path
):
    key_file = tmp_path / "key.json"
    key_file.write_text(service_account_json(endpoint, service_account_key))
    smtp_conn(mail_server, login=USER, oauth2_provider="google", service_account_json=str(key_file))
    SmtpConnHook().send(message())

    [request] = endpoint.requests
    claims = request.claims  # verified with the service account's public key by the endpoint
    assert (claims["iss"], claims["sub"], claims["scope"], claims["aud"]) == (
        SA_EMAIL,
        USER,
        "https://mail.google.com/",
        "https://oauth2.googleapis.com/token",  # google-auth's audience, wherever the token URI points
    )
    assert mail_server.messages[0].authenticated_as == USER


# -- renewal ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "advance", [pytest.param(570, id="into-the-safety-margin"), pytest.param(700, id="past-expiry")]
)
def test_a_token_expiring_in_the_middle_of_50_messages_is_renewed_on_a_new_connection(
    advance, endpoint, mail_server, smtp_conn, clock
):
    endpoint.expires_in = 600  # safety margin: 60 s
    smtp_conn(mail_server, login=USER, **provider_extras("token_url_client_credentials", endpoint))
    auths_after: list[int] = []
    with SmtpConnHook() as hook:
        for i in range(50):
            if i == 25:
                clock.advance(advance)
            hook.send(message(i))
            auths_after.append(len(mail_server.auth_attempts))

    assert len(mail_server.messages) == 50
    assert [m.message["Subject"] for m in mail_server.messages] == [f"report {i}" for i in range(50)]
    assert len(endpoint.issued) == 2 and mail_server.connections == 2
    assert auths_after == [1] * 25 + [2] * 25  # renewed right before message 26, not before, not again
    assert all(ok for _, _, ok in mail_server.auth_attempts)


def test_a_token_due_for_renewal_in_the_middle_of_a_pipelined_stream_is_renewed_between_two_messages(
    endpoint, mail_server, smtp_conn, clock
):
    endpoint.expires_in = 600  # safety margin: 60 s
    smtp_conn(mail_server, login=USER, **provider_extras("token_url_client_credentials", endpoint))
    committed: list[str] = []

    def on_commit(message_id: str) -> None:
        committed.append(message_id)
        if len(committed) == 25:
            clock.advance(570)  # into the safety margin: due for renewal, still valid at the server

    outcomes = SmtpConnHook().send_many([message(i) for i in range(50)], on_commit=on_commit)

    assert [str(o.error) for o in outcomes if not o.ok] == []
    assert [m.message["Subject"] for m in mail_server.messages] == [f"report {i}" for i in range(50)]
    assert len(endpoint.issued) == 2 and mail_server.connections == 2
    first, second = mail_server.flights
    # The 26th envelope had gone with the 25th dot; the 26th dot then went alone, and the 27th message waited for
    # a new connection with the new token.
    assert sum(f.count(".") for f in first) == 26 and sum(f.count(".") for f in second) == 24
    assert first[-2] == ["."] and [a for _, _, a in mail_server.auth_attempts] == [True, True]


def test_a_session_without_renewal_would_be_refused_by_the_server(endpoint, mail_server, smtp_conn, clock):
    """The server enforces expiry: proof that the test above can fail."""
    endpoint.expires_in = 600
    smtp_conn(mail_server, login=USER, **provider_extras("token_url_client_credentials", endpoint))
    with SmtpConnHook() as hook:
        hook.send(message(0))
        clock.advance(700)
        session = hook.get_conn()
        session.renew_stale_token = lambda: None  # type: ignore[method-assign]
        with pytest.raises(SmtpPermanentError) as caught:
            session.send(from_email_message(message(1)))
    assert "530" in str(caught.value)


def test_two_hooks_on_one_connection_share_one_token(endpoint, mail_server, smtp_conn):
    smtp_conn(mail_server, login=USER, **provider_extras("token_url_refresh_token", endpoint))
    SmtpConnHook().send(message(0))
    SmtpConnHook().send(message(1))
    assert len(endpoint.issued) == 1 and len(mail_server.messages) == 2


# -- failures -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["token_url_refresh_token", "google_refresh_token"])
def test_a_revoked_refresh_token_fails_once_with_invalid_grant(provider, endpoint, mail_server, smtp_conn):
    endpoint.revoke(REFRESH)
    smtp_conn(mail_server, login=USER, retry_limit=3, **provider_extras(provider, endpoint))
    with pytest.raises(TokenRefusedError) as caught:
        SmtpConnHook().send(message())

    text = str(caught.value)
    name = provider.rsplit("_refresh_token", 1)[0]
    assert f"The {name} token endpoint 127.0.0.1 refused the request with invalid_grant" in text
    assert "refresh" in text.split(":", 1)[1]  # what to check
    assert REFRESH not in text and SECRET not in text
    assert len(endpoint.requests) == 1  # permanent: not retried
    assert mail_server.connections == 0  # the token is fetched before connecting


def test_invalid_client_from_entra_names_the_provider_host_and_code(endpoint, mail_server, smtp_conn):
    endpoint.clients[CLIENT_ID] = "another-secret"
    smtp_conn(mail_server, login=USER, **provider_extras("microsoft", endpoint))
    with pytest.raises(TokenRefusedError) as caught:
        SmtpConnHook().send(message())
    text = str(caught.value)
    assert text.startswith("The microsoft token endpoint 127.0.0.1 refused the request with invalid_client")
    assert "AADSTS7000215" in text and "client_secret" in text and SECRET not in text
    assert caught.value.error_code == "invalid_client"
    assert len(endpoint.requests) == 1 and mail_server.connections == 0


@pytest.mark.parametrize(
    ("provider", "failure"),
    [("token_url_client_credentials", "hang"), ("token_url_client_credentials", "500"), ("microsoft", "hang")],
)
def test_a_transient_endpoint_failure_is_retried_and_then_delivers(provider, failure, endpoint, mail_server, smtp_conn):
    smtp_conn(mail_server, login=USER, timeout=1, retry_limit=2, **provider_extras(provider, endpoint))
    endpoint.fail_next(failure)
    SmtpConnHook().send(message())
    assert len(endpoint.requests) == 2 and len(endpoint.issued) == 1
    assert [m.authenticated_as for m in mail_server.messages] == [USER]


def test_an_endpoint_that_hangs_is_bounded_by_the_timeout_then_gives_up(endpoint, mail_server, smtp_conn):
    smtp_conn(mail_server, login=USER, timeout=1, retry_limit=1, **provider_extras("token_url_refresh_token", endpoint))
    endpoint.fail_next("hang", times=2)
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        SmtpConnHook().send(message())
    text = str(caught.value)
    assert text.startswith("The token_url token endpoint 127.0.0.1 did not answer within 1 s (timeout)")
    assert text.endswith("Gave up after 2 attempts.")
    assert endpoint.grant_types == ["refresh_token", "refresh_token"]
    assert mail_server.connections == 0 and not mail_server.messages


def test_5xx_answers_and_an_unreachable_endpoint_are_transient_and_named(endpoint, mail_server, smtp_conn, free_port):
    extras = provider_extras("token_url_client_credentials", endpoint)
    smtp_conn(mail_server, login=USER, retry_limit=1, **extras)
    endpoint.fail_next("500", times=2)
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        SmtpConnHook().send(message())
    assert str(caught.value).startswith("The token_url token endpoint 127.0.0.1 answered HTTP 500 (server_error)")
    assert caught.value.error_code == "server_error" and len(endpoint.requests) == 2

    oauth.clear_token_sources()
    extras["oauth2_token_url"] = f"https://127.0.0.1:{free_port}/token"
    smtp_conn(mail_server, login=USER, retry_limit=1, **extras)
    with pytest.raises(TokenEndpointUnavailableError) as caught:
        SmtpConnHook().send(message())
    text = str(caught.value)
    assert text.startswith("The token_url token endpoint 127.0.0.1 could not be reached (unreachable)")
    assert text.endswith("Gave up after 2 attempts.") and mail_server.connections == 0


def test_an_untrusted_token_endpoint_certificate_is_permanent(endpoint, mail_server, smtp_conn, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # certifi alone does not know the test CA
    smtp_conn(mail_server, login=USER, retry_limit=3, **provider_extras("token_url_client_credentials", endpoint))
    with pytest.raises(TokenRefusedError) as caught:
        SmtpConnHook().send(message())
    assert caught.value.error_code == "untrusted_certificate" and "REQUESTS_CA_BUNDLE" in str(caught.value)
    assert endpoint.requests == [] and mail_server.connections == 0  # no secret went to it, nothing was retried


# -- the server rejects a provider's token ------------------------------------------------------------


def test_a_rejected_token_is_replaced_once_on_a_new_connection(endpoint, smtp_conn):
    # Gmail-style: the first token is refused (334 with a JSON error, then 535) although the endpoint issued it.
    def validator(user: str, token: str) -> bool:
        return endpoint.accepts(user, token) and token != endpoint.issued[0]

    with FaultServer(xoauth2=validator) as server:
        smtp_conn(server, login=USER, **provider_extras("token_url_client_credentials", endpoint))
        SmtpConnHook().send(message())
        assert len(endpoint.issued) == 2 and server.connections == 2
        assert server.auth_attempts == [("XOAUTH2", USER, False), ("XOAUTH2", USER, True)]
        assert [m.authenticated_as for m in server.messages] == [USER]


def test_a_token_rejected_twice_fails_after_one_new_token_and_never_loops(endpoint, smtp_conn):
    with FaultServer(xoauth2=endpoint.accepts) as server:
        server.reply("AUTH", "535 5.7.3 Authentication unsuccessful", times=None)
        smtp_conn(server, login=USER, retry_limit=3, **provider_extras("microsoft", endpoint))
        with pytest.raises(SmtpAuthError) as caught:
            SmtpConnHook().send(message())
        assert len(endpoint.issued) == 2 and server.connections == 2
        assert server.commands.count("AUTH") == 2 and not server.messages
    text = str(caught.value)
    assert "rejected the OAuth2 token from microsoft for 'reports@example.com': 535" in text
    assert "A newly fetched token was rejected too" in text
    assert not isinstance(caught.value, TokenRefusedError)


# -- test_connection ----------------------------------------------------------------------------------


def test_test_connection_reports_the_token_source(endpoint, mail_server, smtp_conn):
    smtp_conn(mail_server, login=USER, **provider_extras("microsoft", endpoint))
    ok, text = SmtpConnHook().test_connection()
    assert ok, text
    assert "authenticated as 'reports@example.com' with XOAUTH2 (token from microsoft, valid for 59 min)" in text
    assert mail_server.auth_attempts == [("XOAUTH2", USER, True)]


def test_test_connection_reports_a_refused_token_in_one_sentence(endpoint, mail_server, smtp_conn):
    endpoint.fail_next("invalid_client")
    smtp_conn(mail_server, login=USER, **provider_extras("token_url_client_credentials", endpoint))
    ok, text = SmtpConnHook().test_connection()
    assert not ok
    assert text.startswith("The token_url token endpoint 127.0.0.1 refused the request with invalid_client")
    assert SECRET not in text


# -- secrets ------------------------------------------------------------------------------------------


def test_no_secret_in_any_log_line_or_error(endpoint, smtp_conn, caplog, service_account_key):
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    with FaultServer(xoauth2=endpoint.accepts) as server:
        for provider in GRANTS:
            oauth.clear_token_sources()
            smtp_conn(server, login=USER, retry_limit=0, **provider_extras(provider, endpoint, service_account_key))
            SmtpConnHook().send(message())
            ok, text = SmtpConnHook().test_connection()
            assert ok, text
            errors.append(text)
            endpoint.fail_next("invalid_client")
            oauth.clear_token_sources()
            with pytest.raises(TokenRefusedError) as caught:
                SmtpConnHook().send(message())
            errors.append(str(caught.value))
        server.reply("AUTH", "535 5.7.8 no", times=None)
        with pytest.raises(SmtpAuthError) as caught:
            SmtpConnHook().send(message())
        errors.append(str(caught.value))
        assert len(server.messages) == len(GRANTS)

    key_pem = json.loads(service_account_json(endpoint, service_account_key))["private_key"]
    key_lines = [line for line in key_pem.splitlines() if "PRIVATE KEY" not in line and line]
    secrets = [SECRET, REFRESH, *endpoint.issued, *key_lines]
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "Fetched an OAuth2 access token" in logs  # the net is in place
    for secret in secrets:
        assert secret not in logs, f"a secret ({secret[:6]}…) leaked into a log line"
        for error in errors:
            assert secret not in error, f"a secret ({secret[:6]}…) leaked into an error"


def test_secrets_and_fetched_tokens_are_registered_with_the_masker(endpoint, mail_server, smtp_conn):
    from airflow.sdk._shared.secrets_masker import redact

    smtp_conn(mail_server, login=USER, **provider_extras("token_url_refresh_token", endpoint))
    SmtpConnHook().send(message())
    [token] = endpoint.issued
    assert redact(f"a {SECRET} b {REFRESH} c {token}") == "a *** b *** c ***"


def test_a_service_account_key_is_registered_with_the_masker_line_by_line(endpoint, service_account_key):
    from airflow.sdk._shared.secrets_masker import redact

    pasted = service_account_json(endpoint, service_account_key)
    oauth.token_source_from_extras({"oauth2_provider": "google", "service_account_json": pasted}, login=USER)
    key_pem = json.loads(pasted)["private_key"]
    second_line = key_pem.splitlines()[1]
    assert redact(f"a {key_pem} b") == "a *** b"
    assert redact(f"line {second_line}") == "line ***"
    assert redact(pasted) == "***"


def test_tokens_and_sources_do_not_show_secrets_in_repr(endpoint, mail_server, smtp_conn):
    smtp_conn(mail_server, login=USER, **provider_extras("token_url_client_credentials", endpoint))
    hook = SmtpConnHook()
    token = hook.settings.token_source.token()
    assert token.value not in repr(token) and SECRET not in repr(hook.settings.token_source)
    assert SECRET not in repr(hook.settings)


# -- configuration, before any network ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "extra", "message_part"),
    [
        ("microsoft", {}, "oauth2_provider 'microsoft' needs tenant_id"),
        ("microsoft", {"tenant_id": "t", "client_id": "c"}, "oauth2_provider 'microsoft' needs client_secret"),
        ("google", {}, "needs service_account_json, or client_id, client_secret and refresh_token"),
        ("google", {"client_id": "c", "client_secret": "s"}, "'google' needs refresh_token"),
        ("token_url", {"client_id": "c", "client_secret": "s"}, "needs oauth2_token_url"),
        ("token_url", {"oauth2_token_url": "http://idp.example.com/token", "client_id": "c"}, "not an https://"),
        ("ms365", {}, "oauth2_provider 'ms365' is not one of microsoft, google, token_url"),
    ],
)
def test_missing_or_wrong_fields_are_named_before_any_network(provider, extra, message_part, endpoint):
    with pytest.raises(SmtpConfigError, match=message_part):
        oauth.token_source_from_extras({"oauth2_provider": provider, **extra}, login=USER)
    assert endpoint.requests == [] and endpoint.discoveries == 0


def test_a_service_account_key_that_is_not_one_is_named_without_its_content(tmp_path):
    with pytest.raises(SmtpConfigError, match="not a service account's JSON key") as caught:
        oauth.token_source_from_extras(
            {"oauth2_provider": "google", "service_account_json": '{"type": "authorized_user", "x": "s3cr3t"}'},
            login=USER,
        )
    assert "s3cr3t" not in str(caught.value)
    with pytest.raises(SmtpConfigError, match="names the file '/nonexistent/key.json', which cannot be read"):
        oauth.token_source_from_extras(
            {"oauth2_provider": "google", "service_account_json": "/nonexistent/key.json"}, login=USER
        )


def test_basic_auth_with_a_token_source_is_refused(endpoint, mail_server, smtp_conn):
    smtp_conn(mail_server, login=USER, auth_type="basic", **provider_extras("token_url_client_credentials", endpoint))
    with pytest.raises(SmtpConfigError, match="auth_type 'basic' cannot use oauth2_provider 'token_url'"):
        SmtpConnHook().settings  # noqa: B018


@pytest.mark.parametrize(
    ("provider", "module", "extra"),
    [("microsoft", "msal", "microsoft"), ("google", "google.oauth2.service_account", "google")],
)
def test_a_missing_provider_library_names_the_extra_to_install(provider, module, extra, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # what an uninstalled package looks like to import
    with pytest.raises(SmtpConfigError) as caught:
        oauth.token_source_from_extras({"oauth2_provider": provider}, login=USER)
    assert str(caught.value) == (
        f"oauth2_provider {provider!r} needs the {'msal' if provider == 'microsoft' else 'google-auth'} library: "
        f"pip install 'airflow-provider-smtpconn[{extra}]'."
    )


def test_the_safety_margin_is_five_minutes_or_a_tenth_of_a_short_lifetime():
    assert oauth.refresh_margin(3600) == 300
    assert oauth.refresh_margin(600) == 60
    assert oauth.refresh_margin(0) == 0
