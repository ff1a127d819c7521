"""The Airflow UI's path to the connection: the provider is discovered, ``GET /ui/connections/hook_meta`` shows the
``smtpconn`` form, and ``POST /api/v2/connections/test`` (the UI's Test button) reaches the test server or explains
why not. Airflow's own API app, in process, through FastAPI's TestClient."""

from __future__ import annotations

import json

import pytest

from airflow_provider_smtpconn.connection.form import EXTRA_FIELDS

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(scope="module")
def client(airflow_db):
    from fastapi.testclient import TestClient

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")  # an admin token on every request
        mp.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "smtpconn-test-" + "x" * 64)  # long enough for HS512
        from airflow.api_fastapi.app import create_app
        from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

        HookMetaService.hook_meta_data.cache_clear()
        with TestClient(create_app(apps="core")) as test_client:
            yield test_client


def test_providers_manager_lists_the_provider():
    from airflow.providers_manager import ProvidersManager

    providers = ProvidersManager().providers
    assert "airflow-provider-smtpconn" in providers
    info = providers["airflow-provider-smtpconn"]
    assert info.version == "0.1.0"
    (conn_type,) = info.data["connection-types"]
    assert conn_type["connection-type"] == "smtpconn"
    assert conn_type["hook-class-name"] == "airflow_provider_smtpconn.hooks.smtp.SmtpConnHook"


def test_hook_meta_shows_the_smtpconn_form(client):
    response = client.get("/ui/connections/hook_meta")
    assert response.status_code == 200
    meta = {item["connection_type"]: item for item in response.json()}
    smtpconn = meta["smtpconn"]
    assert smtpconn["hook_name"] == "SMTP Connector"
    assert set(smtpconn["extra_fields"]) == set(EXTRA_FIELDS)
    tls = smtpconn["extra_fields"]["tls_mode"]
    assert tls["schema"]["title"] == "TLS mode"
    assert tls["schema"]["enum"] == ["auto", "starttls", "implicit", "none"]
    assert "port 587" in tls["description"]
    assert smtpconn["extra_fields"]["access_token"]["schema"]["format"] == "password"
    assert smtpconn["extra_fields"]["timeout"]["value"] == 30
    standard = smtpconn["standard_fields"]
    assert standard["login"]["title"] == "Username"
    assert standard["host"]["placeholder"] == "smtp.example.com"
    assert standard["url_schema"]["hidden"] is True


def test_connection_test_succeeds_against_the_server(client, smtp_server):
    body = {
        "connection_id": "ui_smtp",
        "conn_type": "smtpconn",
        "host": smtp_server.host,
        "port": smtp_server.port,
        "extra": json.dumps({"tls_mode": "none", "timeout": 5, "retry_limit": 0}),
    }
    response = client.post("/api/v2/connections/test", json=body)

    assert response.status_code == 200
    result = response.json()
    assert result["status"] is True, result
    assert result["message"].startswith(f"Reached 127.0.0.1:{smtp_server.port} with no TLS")
    assert smtp_server.connections == 1
    assert "NOOP" in smtp_server.commands
    assert smtp_server.messages == []


def test_connection_test_with_login_and_starttls(client, starttls_server, ca_pem_path):
    body = {
        "connection_id": "ui_smtp_tls",
        "conn_type": "smtpconn",
        "host": "localhost",
        "port": starttls_server.port,
        "login": "alice",
        "password": "secret-pw",
        "extra": json.dumps({"tls_mode": "starttls", "ca_bundle": ca_pem_path, "timeout": 5}),
    }
    result = client.post("/api/v2/connections/test", json=body).json()

    assert result["status"] is True, result
    assert "STARTTLS" in result["message"]
    assert "authenticated as 'alice'" in result["message"]


def test_connection_test_fails_clearly_against_a_closed_port(client, free_port):
    body = {
        "connection_id": "ui_smtp_closed",
        "conn_type": "smtpconn",
        "host": "127.0.0.1",
        "port": free_port,
        "extra": json.dumps({"tls_mode": "none", "timeout": 5, "retry_limit": 0}),
    }
    response = client.post("/api/v2/connections/test", json=body)

    assert response.status_code == 200
    result = response.json()
    assert result["status"] is False
    assert f"127.0.0.1:{free_port}" in result["message"]
    assert "refused" in result["message"].lower()


def test_connection_test_names_a_bad_field(client):
    body = {
        "connection_id": "ui_smtp_bad",
        "conn_type": "smtpconn",
        "host": "127.0.0.1",
        "port": 25,
        "extra": json.dumps({"tls_mode": "none", "timeout": "soon"}),
    }
    result = client.post("/api/v2/connections/test", json=body).json()

    assert result["status"] is False
    assert "timeout" in result["message"] and "'soon'" in result["message"]
