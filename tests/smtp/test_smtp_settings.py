"""smtp/settings.py: settings that would send a password in plain text to a remote host are refused before any
connection."""

from __future__ import annotations

import socket

import pytest

from airflow_provider_smtpconn.exceptions import (
    SmtpConfigError,
)
from airflow_provider_smtpconn.smtp.settings import SmtpSettings


def test_plaintext_auth_to_a_remote_host_is_refused_before_connecting(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError(f"tried to connect to {args!r}")

    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(SmtpConfigError, match="in plain text to smtp.example.com:25"):
        SmtpSettings(host="smtp.example.com", tls_mode="none", username="u", password="p")
    assert SmtpSettings(host="127.0.0.1", tls_mode="none", username="u", password="p").port == 25
    assert SmtpSettings(host="smtp.example.com", tls_mode="none", username="u", password="p", allow_plaintext_auth=True)


@pytest.mark.parametrize("host", ["smtp://smtp.example.com", "smtp.example.com:2525", "smtp.example.com/x"])
def test_a_host_with_a_scheme_or_a_port_is_refused_naming_where_the_port_goes(host):
    with pytest.raises(SmtpConfigError, match="the port in Port"):
        SmtpSettings(host=host)


def test_an_access_token_that_is_not_text_is_refused_without_showing_it():
    from airflow_provider_smtpconn.smtp.settings import settings_from_extras

    with pytest.raises(SmtpConfigError) as caught:
        settings_from_extras(
            {"auth_type": "xoauth2", "access_token": ["S3cretTok"]},
            host="smtp.example.com", port=587, login="u@example.com", password=None,
        )  # fmt: skip
    assert "access_token" in str(caught.value) and "S3cretTok" not in str(caught.value)
