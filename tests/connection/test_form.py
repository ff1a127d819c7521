"""connection/form.py: the connection form Airflow's UI shows, derived from the field declarations: automatic TLS
first, the switches that weaken security last, the OAuth2 fields grouped after authentication with secrets as
password fields, and descriptions that use labels rather than extra keys."""

from __future__ import annotations

from support.oauth_fields import OAUTH2_KEYS


def test_the_form_offers_automatic_tls_and_puts_weakening_switches_last():
    from airflow_provider_smtpconn.connection.form import connection_type

    fields = connection_type()["conn-fields"]
    keys = list(fields)
    assert keys[0] == "from_email"
    assert keys[-2:] == ["ignore_self_signed", "allow_plaintext_auth"]
    tls = fields["tls_mode"]["schema"]
    assert tls["enum"][0] == "auto" and tls["default"] == "auto"
    assert set(tls["values_display"]) == set(tls["enum"])
    assert fields["timeout"]["schema"]["minimum"] > 0
    assert "retry_wait" in fields and "auth_mechanism" in fields
    for key, field in fields.items():
        words = field["description"].replace("'", " ").replace(".", " ").replace(",", " ").split()
        others = [k for k in fields if k != key and "_" in k]
        assert not [k for k in others if k in words], f"{key}: a description names an extra key, not its label"


def test_the_form_groups_the_oauth2_fields_after_authentication_with_secrets_as_password_fields():
    from airflow_provider_smtpconn.connection.form import connection_type

    fields = connection_type()["conn-fields"]
    keys = list(fields)
    after = keys.index("access_token") + 1
    assert keys.index("auth_type") < after and keys[after : after + len(OAUTH2_KEYS)] == OAUTH2_KEYS
    assert [k for k in OAUTH2_KEYS if fields[k]["schema"].get("format") == "password"] == [
        "client_secret",
        "refresh_token",
        "service_account_json",
    ]
    assert fields["oauth2_provider"]["schema"]["enum"] == ["microsoft", "google", "token_url"]
    assert all(fields[k]["label"] and len(fields[k]["description"]) > 40 for k in OAUTH2_KEYS)
