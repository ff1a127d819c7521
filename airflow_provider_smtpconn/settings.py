"""Every field of an ``smtpconn`` connection, declared once, and the transport settings built from them.

Each :class:`ConnectionField` says its extra key, the label and description the connection form shows, its
form widget (a JSON schema), its default, and how a raw value (typed JSON or text from the UI) is parsed and
checked. The hook's settings (:func:`settings_from_extras`), the form (``hooks/connection_form.py``) and the
README's connection table (:func:`readme_table`) are all derived from :data:`FIELDS`; a test fails when the
README and the declaration disagree. Nothing here imports Airflow: provider discovery reads it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.field_parsers import check_number, choice, config_error, flag, number, parse_port, text

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

TLS_MODES = ("starttls", "implicit", "none")
AUTH_TYPES = ("basic", "xoauth2")
#: ``auto`` picks the first of PLAIN, LOGIN, CRAM-MD5 that the server offers (see ``auth.py``).
AUTH_MECHANISMS = ("auto", "PLAIN", "LOGIN", "CRAM-MD5")
DEFAULT_PORTS = {"starttls": 587, "implicit": 465, "none": 25}


# -- the declaration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionField:
    """One extra field of the connection: what the form shows and how the hook reads it.

    :param key: The key in the connection's extra JSON.
    :param label: The label the form shows (the words the user sees, used in every description).
    :param description: One or two sentences under the field in the form, and the README's text.
    :param schema: The form widget as JSON schema (``type``, ``enum``, ``values_display``, ``format``, ...).
    :param parse: ``(key, raw value) -> value``; ``None`` for "not set". Raises :class:`SmtpConfigError`.
    :param default: The value used when the field is not set; shown by the form and applied by the hook.
    :param setting: The :class:`SmtpSettings` attribute it feeds, or ``None`` for what the hook reads itself.
    """

    key: str
    label: str
    description: str
    schema: Mapping[str, Any]
    parse: Callable[[str, Any], Any]
    default: Any = None
    setting: str | None = None

    def read(self, extra: Mapping[str, Any]) -> Any:
        """The parsed value of this field in ``extra``, or its default."""
        value = self.parse(self.key, extra.get(self.key))
        return self.default if value is None else value

    def form_field(self) -> dict[str, Any]:
        """The ``conn-fields`` entry of the provider info."""
        schema = dict(self.schema)
        if self.default is not None:
            schema.setdefault("default", self.default)
        return {"label": self.label, "schema": schema, "description": self.description}


def _nullable(kind: str, **schema: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **schema}


FIELDS: tuple[ConnectionField, ...] = (
    ConnectionField(
        "from_email",
        "Default sender",
        "The sender when a task gives none; 'Name <address>' is allowed. Empty: the Username, if it is an address.",
        _nullable("string"),
        text,
    ),
    ConnectionField(
        "tls_mode",
        "TLS mode",
        "Automatic: implicit TLS on port 465, STARTTLS on any other port. STARTTLS upgrades a plain connection "
        "(port 587); implicit TLS speaks TLS from the first byte (port 465); none sends in plain text.",
        _nullable(
            "string",
            enum=["auto", *TLS_MODES],
            values_display={
                "auto": "Automatic (by port)",
                "starttls": "STARTTLS (port 587)",
                "implicit": "Implicit TLS (port 465)",
                "none": "None (plain text)",
            },
        ),
        choice(TLS_MODES, auto="auto"),
        default="auto",
        setting="tls_mode",
    ),
    ConnectionField(
        "auth_type",
        "Authentication",
        "basic: the Password with the AUTH mechanism below. xoauth2: an OAuth2 access token, in OAuth2 access "
        "token or the Password (Google Workspace, Microsoft 365).",
        _nullable("string", enum=list(AUTH_TYPES), values_display={"basic": "Password", "xoauth2": "OAuth2 (XOAUTH2)"}),
        choice(AUTH_TYPES),
        default="basic",
        setting="auth_type",
    ),
    ConnectionField(
        "auth_mechanism",
        "AUTH mechanism",
        "For Authentication basic. Automatic: the first of PLAIN, LOGIN, CRAM-MD5 the server offers; choose one "
        "if the server offers a mechanism it cannot verify. One attempt per connection.",
        _nullable("string", enum=list(AUTH_MECHANISMS), values_display={"auto": "Automatic"}),
        choice(AUTH_MECHANISMS[1:], auto="auto"),
        default="auto",
        setting="auth_mechanism",
    ),
    ConnectionField(
        "access_token",
        "OAuth2 access token",
        "For Authentication xoauth2, if not given as the Password. Shown as a password field and redacted.",
        _nullable("string", format="password"),
        text,
    ),
    ConnectionField(
        "ca_bundle",
        "Private CA bundle",
        "A path to a PEM file, or the PEM text, of a private CA to trust besides the system store.",
        _nullable("string", format="multiline"),
        text,
        setting="ca_bundle",
    ),
    ConnectionField(
        "timeout",
        "Timeout (seconds)",
        "Bounds the connect, the greeting, the TLS handshake and each SMTP command; above 0.",
        _nullable("number", minimum=1),
        number(minimum=0, inclusive=False),
        default=30.0,
        setting="timeout",
    ),
    ConnectionField(
        "retry_limit",
        "Retries",
        "Retries of transient failures (connection lost, 4xx replies) before the body is sent. A message whose "
        "body was sent is never resent.",
        _nullable("integer", minimum=0),
        number(minimum=0, integer=True),
        default=3,
        setting="retry_limit",
    ),
    ConnectionField(
        "retry_wait",
        "First retry wait (seconds)",
        "The wait before the first retry; it doubles on each further retry, up to 30 seconds.",
        _nullable("number", minimum=0),
        number(minimum=0),
        default=1.0,
        setting="retry_wait",
    ),
    ConnectionField(
        "max_attachment_mb",
        "Largest attachment (MB)",
        "The largest single attachment a task may send through this connection, in MiB.",
        _nullable("number", minimum=0),
        number(minimum=0, inclusive=False),
        default=10.0,
    ),
    ConnectionField(
        "local_hostname",
        "EHLO name",
        "The name this client gives in EHLO. Empty: this machine's fully qualified name.",
        _nullable("string"),
        text,
        setting="local_hostname",
    ),
    ConnectionField(
        "ignore_self_signed",
        "Accept self-signed certificates",
        "Weakens security: keeps encryption but skips the certificate chain and host name checks. Prefer a "
        "Private CA bundle.",
        _nullable("boolean"),
        flag,
        default=False,
        setting="ignore_self_signed",
    ),
    ConnectionField(
        "allow_plaintext_auth",
        "Allow password without TLS",
        "Weakens security: with TLS mode none, send the Username and Password to a host other than localhost. "
        "Only for a trusted relay.",
        _nullable("boolean"),
        flag,
        default=False,
        setting="allow_plaintext_auth",
    ),
)
FIELDS_BY_KEY: dict[str, ConnectionField] = {f.key: f for f in FIELDS}


def readme_table() -> str:
    """The rows of the README's connection table for the extra fields, in form order (Markdown)."""
    return "\n".join(f"| {f.label} | `{f.key}` | {f.description} |" for f in FIELDS)


# -- the settings ----------------------------------------------------------------------------------


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
    tls_mode_from_port: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        host = (self.host or "").strip()
        if not host or any(c.isspace() for c in host):
            raise config_error(f"The connection's host {self.host!r} is not a host name or IP address.")
        tls_mode = self.tls_mode or ("implicit" if self.port == 465 else "starttls")
        if tls_mode not in TLS_MODES:
            raise config_error(f"tls_mode {self.tls_mode!r} is not one of {', '.join(TLS_MODES)}.")
        port = self.port if self.port is not None else DEFAULT_PORTS[tls_mode]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise config_error(f"The connection's port {self.port!r} is not a number from 1 to 65535.")
        self._check_auth()
        check_number("timeout", self.timeout, minimum=0, inclusive=False)
        check_number("retry_limit", self.retry_limit, minimum=0, integer=True)
        check_number("retry_wait", self.retry_wait, minimum=0)
        check_number("retry_wait_max", self.retry_wait_max, minimum=0)
        self._check_local_hostname()
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
        if self.auth_type == "xoauth2" and not (self.username and self.password):
            raise config_error(
                "auth_type 'xoauth2' needs the mailbox as login and an OAuth2 access token as password or access_token."
            )

    def _check_local_hostname(self) -> None:
        name = self.local_hostname
        if name is not None and not (name and all(c.isascii() and c.isprintable() and not c.isspace() for c in name)):
            raise config_error(
                f"local_hostname {name!r} is not a host name: it is sent in EHLO and may not be empty "
                "or contain spaces, line breaks or non-ASCII characters."
            )

    @property
    def address(self) -> str:
        """``host:port``, as errors and logs show it."""
        return f"{self.host}:{self.port}"


def settings_from_extras(
    extra: Mapping[str, Any], *, host: str | None, port: Any, login: str | None, password: str | None
) -> SmtpSettings:
    """Build :class:`SmtpSettings` from a connection's standard fields and its extras (plain keys).

    :raises SmtpConfigError: naming the first field that is invalid.
    """
    values = {f.setting: f.read(extra) for f in FIELDS if f.setting}
    if values["tls_mode"] == "auto":
        values["tls_mode"] = None
    if values["auth_mechanism"] == "auto":
        values["auth_mechanism"] = None
    token = FIELDS_BY_KEY["access_token"].read(extra)
    if values["auth_type"] == "xoauth2" and token:
        password = token
    return SmtpSettings(
        host=host or "", port=parse_port(port), username=login or None, password=password or token, **values
    )
