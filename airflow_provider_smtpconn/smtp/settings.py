"""What one SMTP session needs (:class:`SmtpSettings`), built from the fields declared in ``connection/fields.py``.

Nothing here imports Airflow: provider discovery may import it while Airflow itself is still initialising.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.connection.fields import (
    AUTH_MECHANISMS,
    AUTH_TYPES,
    DEFAULT_PORTS,
    FIELDS,
    FIELDS_BY_KEY,
    PIPELINING_MODES,
    TLS_MODES,
)
from airflow_provider_smtpconn.connection.parsers import check_number, config_error, parse_port

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_smtpconn.oauth import TokenSource


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine, decided without a DNS lookup."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SmtpSettings:
    """Everything needed to open an SMTP session; validated when built, before anything connects.

    ``tls_mode`` ``None`` means automatic (implicit on port 465, starttls otherwise) and is resolved here;
    ``tls_mode_from_port`` then says so, for errors that explain where the mode came from.

    :raises SmtpConfigError: naming the field and value, for the first one that is invalid.
    """

    host: str
    port: int | None = None
    tls_mode: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    auth_type: str = "basic"
    auth_mechanism: str | None = None
    ignore_self_signed: bool = False
    ca_bundle: str | None = None
    timeout: float = 30.0
    retry_limit: int = 3
    retry_wait: float = 1.0
    retry_wait_max: float = 30.0
    local_hostname: str | None = None
    allow_plaintext_auth: bool = False
    #: ``auto``: pipeline (RFC 2920) when the server offers PIPELINING; ``off``: one command at a time.
    pipelining: str = "auto"
    #: The most RCPT commands in one mail transaction; ``None``: all, split where the server answers 452.
    max_recipients_per_message: int | None = None
    #: Where XOAUTH2 tokens come from when they are fetched rather than given as the password.
    token_source: TokenSource | None = field(default=None, repr=False, compare=False)
    tls_mode_from_port: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        host = (self.host or "").strip()
        if not host or any(c.isspace() for c in host):
            raise config_error(f"The connection's host {self.host!r} is not a host name or IP address.")
        if "/" in host or (":" in host and not host.startswith("[") and host.count(":") == 1):
            raise config_error(
                f"The connection's host {self.host!r} is not a host name or IP address: give the name alone "
                "(smtp.example.com), the port in Port, and no scheme."
            )
        tls_mode = self.tls_mode or ("implicit" if self.port == 465 else "starttls")
        if tls_mode not in TLS_MODES:
            raise config_error(f"tls_mode {self.tls_mode!r} is not one of {', '.join(TLS_MODES)}.")
        port = self.port if self.port is not None else DEFAULT_PORTS[tls_mode]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise config_error(f"The connection's port {self.port!r} is not a number from 1 to 65535.")
        self._check_auth()
        for key in ("timeout", "retry_limit", "retry_wait", "max_recipients_per_message"):  # the declared checks
            FIELDS_BY_KEY[key].parse(key, getattr(self, key))
        check_number("retry_wait_max", self.retry_wait_max, minimum=0)
        self._check_local_hostname()
        if self.pipelining not in PIPELINING_MODES:
            raise config_error(f"pipelining {self.pipelining!r} is not one of {', '.join(PIPELINING_MODES)}.")
        if self.username and tls_mode == "none" and not self.allow_plaintext_auth and not is_loopback(host):
            raise config_error(
                f"Refusing to send the password for {self.username!r} in plain text to {host}:{port}: "
                "tls_mode is 'none'. Use 'starttls' or 'implicit', or set allow_plaintext_auth for a "
                "trusted relay."
            )
        object.__setattr__(self, "tls_mode_from_port", not self.tls_mode)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "tls_mode", tls_mode)
        object.__setattr__(self, "port", port)

    def _check_auth(self) -> None:
        if self.auth_type not in AUTH_TYPES:
            raise config_error(f"auth_type {self.auth_type!r} is not one of {', '.join(AUTH_TYPES)}.")
        if self.auth_mechanism is not None and self.auth_mechanism not in AUTH_MECHANISMS[1:]:
            raise config_error(f"auth_mechanism {self.auth_mechanism!r} is not one of {', '.join(AUTH_MECHANISMS)}.")
        if self.auth_type == "xoauth2" and not (self.username and (self.password or self.token_source)):
            raise config_error(
                "auth_type 'xoauth2' needs the mailbox as login and an OAuth2 access token as password or access_token."
            )

    def _check_local_hostname(self) -> None:
        name = self.local_hostname
        printable = name and all(c.isascii() and c.isprintable() and not c.isspace() for c in name)
        if name is not None and not (printable and len(name) <= 255):  # RFC 1035 section 2.3.4: 255 octets
            raise config_error(
                f"local_hostname {name[:80]!r} is not a host name: it is sent in EHLO and may not be empty, longer "
                "than 255 characters, or contain spaces, line breaks or non-ASCII characters."
            )

    @property
    def address(self) -> str:
        """``host:port``, as errors and logs show it."""
        return f"{self.host}:{self.port}"


def settings_from_extras(
    extra: Mapping[str, Any], *, host: str | None, port: Any, login: str | None, password: str | None
) -> SmtpSettings:
    """Build :class:`SmtpSettings` from a connection's standard fields and its extras (plain keys).

    With ``oauth2_provider``, the settings carry a token source (shared by every connection with the same OAuth2
    fields in this process) and ``auth_type`` is ``xoauth2``.

    :raises SmtpConfigError: naming the first field that is invalid, or an OAuth2 field the provider needs.
    """
    from airflow_provider_smtpconn.oauth import token_source_from_extras

    values = {f.setting: f.read(extra) for f in FIELDS if f.setting}
    if values["tls_mode"] == "auto":
        values["tls_mode"] = None
    if values["auth_mechanism"] == "auto":
        values["auth_mechanism"] = None
    token = FIELDS_BY_KEY["access_token"].read(extra)
    if values["auth_type"] == "xoauth2" and token:
        password = token
    source = token_source_from_extras(extra, login=login, timeout=values["timeout"])
    if source is not None:
        chosen = FIELDS_BY_KEY["auth_type"].parse("auth_type", extra.get("auth_type"))
        if chosen not in (None, "xoauth2"):
            raise config_error(
                f"auth_type {chosen!r} cannot use oauth2_provider {source.name!r}: set auth_type to xoauth2, or "
                "leave it empty."
            )
        values["auth_type"], password, token = "xoauth2", None, None  # the token source supplies the secret
    return SmtpSettings(
        host=host or "",
        port=parse_port(port),
        username=login or None,
        password=password or token,
        token_source=source,
        **values,
    )
