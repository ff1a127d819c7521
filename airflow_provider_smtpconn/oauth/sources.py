"""Building a token source from a connection's extras; sources are shared per process."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_smtpconn.connection.fields import FIELDS_BY_KEY, OAUTH2_FIELDS
from airflow_provider_smtpconn.exceptions import SmtpConfigError
from airflow_provider_smtpconn.oauth.base import (
    _EXTRAS,
    GOOGLE_SCOPE,
    MICROSOFT_AUTHORITY,
    MICROSOFT_SCOPE,
    TokenSource,
    mask,
)
from airflow_provider_smtpconn.oauth.google import GoogleTokenSource
from airflow_provider_smtpconn.oauth.microsoft import MicrosoftTokenSource
from airflow_provider_smtpconn.oauth.token_url import TokenUrlSource

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


# -- building sources from a connection ---------------------------------------------------------------

_SOURCES: dict[str, TokenSource] = {}
_SOURCES_LOCK = threading.Lock()


def token_source_from_extras(
    extra: Mapping[str, Any], *, login: str | None, timeout: float = 30.0
) -> TokenSource | None:
    """The token source a connection's extras ask for with ``oauth2_provider``, or ``None`` if they ask for none.

    Every field the provider needs is checked, and the provider's library imported, before any network use. A
    source already built in this process for the same settings and secrets is returned instead of a new one, so
    hooks on one connection share one cached token.

    :param extra: The connection's extras; the OAuth2 fields are read and checked as ``settings.FIELDS`` declares
        them (``oauth2_provider``, ``tenant_id``, ``client_id``, ``client_secret``, ``refresh_token``,
        ``service_account_json``, ``oauth2_token_url``, ``oauth2_scope``, ``oauth2_authority``).
    :param login: The connection's login: the mailbox that sends (the subject of Google's domain-wide delegation).
    :param timeout: Bounds each token request, in seconds.
    :raises SmtpConfigError: A field is missing or invalid, or the provider's library is not installed.
    """
    provider = FIELDS_BY_KEY["oauth2_provider"].read(extra)
    if provider is None:
        return None
    if provider in _EXTRAS:
        _require_library(provider)
    if not login:
        raise SmtpConfigError(f"oauth2_provider {provider!r} needs the login: the mailbox that sends.")
    values: dict[str, str | None] = {name: FIELDS_BY_KEY[name].read(extra) for name in _FIELDS}
    key = _cache_key(provider, login, timeout, values)
    with _SOURCES_LOCK:
        source = _SOURCES.get(key)
        if source is None:
            source = _SOURCES[key] = _BUILDERS[provider](values, login, timeout)
    return source


def clear_token_sources() -> None:
    """Forget every token source (and so every cached token) of this process."""
    with _SOURCES_LOCK:
        _SOURCES.clear()


# What a token source reads, and which of it is secret: as settings.FIELDS declares them.
_FIELDS = tuple(f.key for f in OAUTH2_FIELDS if f.key != "oauth2_provider")
_SECRET_FIELDS = frozenset(f.key for f in OAUTH2_FIELDS if f.is_secret)


def _build_microsoft(values: dict[str, str | None], login: str, timeout: float) -> TokenSource:
    tenant_id, client_id, secret = (_need(values, "microsoft", n) for n in ("tenant_id", "client_id", "client_secret"))
    return MicrosoftTokenSource(
        tenant_id=tenant_id,
        client_id=client_id,
        client_secret=secret,
        scope=values["oauth2_scope"] or MICROSOFT_SCOPE,
        authority=_https_url(values, "oauth2_authority") or MICROSOFT_AUTHORITY,
        timeout=timeout,
    )


def _build_google(values: dict[str, str | None], login: str, timeout: float) -> TokenSource:
    scope = values["oauth2_scope"] or GOOGLE_SCOPE
    token_url = _https_url(values, "oauth2_token_url")
    if values["service_account_json"]:
        if values["service_account_json"].startswith("{"):
            mask(values["service_account_json"])
        info = _service_account_info(values["service_account_json"])
        return GoogleTokenSource.service_account(info, subject=login, scope=scope, token_url=token_url, timeout=timeout)
    if not (values["client_id"] or values["client_secret"] or values["refresh_token"]):
        raise SmtpConfigError(
            "oauth2_provider 'google' needs service_account_json, or client_id, client_secret and refresh_token."
        )
    client_id, secret, refresh = (_need(values, "google", n) for n in ("client_id", "client_secret", "refresh_token"))
    return GoogleTokenSource.refresh_token(
        client_id=client_id,
        client_secret=secret,
        refresh_token=refresh,
        scope=scope,
        token_url=token_url,
        timeout=timeout,
    )


def _build_token_url(values: dict[str, str | None], login: str, timeout: float) -> TokenSource:
    url = _https_url(values, "oauth2_token_url")
    if not url:
        raise SmtpConfigError("oauth2_provider 'token_url' needs oauth2_token_url: the token endpoint's https:// URL.")
    client_id = _need(values, "token_url", "client_id")
    if not values["client_secret"] and not values["refresh_token"]:
        raise SmtpConfigError(
            "oauth2_provider 'token_url' needs client_secret, or a refresh_token for a public client."
        )
    return TokenUrlSource(
        token_url=url,
        client_id=client_id,
        client_secret=values["client_secret"],
        refresh_token=values["refresh_token"],
        scope=values["oauth2_scope"],
        timeout=timeout,
    )


_BUILDERS: dict[str, Callable[[dict[str, str | None], str, float], TokenSource]] = {
    "microsoft": _build_microsoft,
    "google": _build_google,
    "token_url": _build_token_url,
}


def _need(values: dict[str, str | None], provider: str, name: str) -> str:
    value = values[name]
    if not value:
        raise SmtpConfigError(f"oauth2_provider {provider!r} needs {name}, which the connection does not set.")
    return value


def _https_url(values: dict[str, str | None], name: str) -> str | None:
    url = values[name]
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise SmtpConfigError(
            f"{name} {url!r} is not an https:// URL; client secrets are only sent to a token endpoint over TLS."
        )
    return url


def _service_account_info(value: str) -> dict[str, Any]:
    """The service-account key: the pasted JSON (also with a byte-order mark, or JSON-encoded twice), or the JSON
    file a path names. An error shows the value only when it looks like a path, never key material.
    """
    value = value.lstrip("\ufeff").strip()
    if value.startswith(("{", '"')):
        text, where = value, "service_account_json"
    else:
        try:
            with open(value, encoding="utf-8-sig") as handle:
                text = handle.read()
        except OSError as exc:
            raise SmtpConfigError(
                f"service_account_json names the file {_shown_path(value)}, which cannot be read "
                f"({exc.strerror or exc}); give the path of the service account's JSON key on the worker, or paste "
                "the JSON itself."
            ) from None
        where = f"The file {_shown_path(value)} in service_account_json"
    try:
        info = json.loads(text)
        if isinstance(info, str):  # JSON text stored as a JSON string
            info = json.loads(info)
    except ValueError:
        info = None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise SmtpConfigError(f'{where} is not a service account\'s JSON key (with "type": "service_account").')
    return info


def _shown_path(value: str) -> str:
    looks_like_a_key = len(value) > 255 or any(c in value for c in "{}\n") or "PRIVATE KEY" in value
    return "(not shown: it looks like key material, not a path)" if looks_like_a_key else repr(value)


def _require_library(provider: str) -> None:
    module = {"microsoft": "msal", "google": "google.oauth2.service_account"}[provider]
    try:
        __import__(module)
    except ImportError:
        raise SmtpConfigError(
            f"oauth2_provider {provider!r} needs the {_EXTRAS[provider]} library: "
            f"pip install 'airflow-provider-smtpconn[{provider}]'."
        ) from None


def _cache_key(provider: str, login: str, timeout: float, values: dict[str, str | None]) -> str:
    identity = {name: value for name, value in values.items() if name not in _SECRET_FIELDS}
    digests = {
        name: hashlib.sha256(value.encode()).hexdigest() if value else None
        for name, value in values.items()
        if name in _SECRET_FIELDS
    }
    blob = json.dumps([provider, login, timeout, identity, digests], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()
