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
