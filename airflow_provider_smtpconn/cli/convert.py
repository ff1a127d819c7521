"""An official ``smtp`` connection (``apache-airflow-providers-smtp``) turned into the equivalent ``smtpconn`` one.

The official hook (``airflow/providers/smtp/hooks/smtp.py``) reads its connection like this, and
:func:`convert` follows it, defaults included:

- ``disable_ssl`` and ``disable_tls`` are read with ``bool()``, both default false. SSL on (the default) is
  implicit TLS (``smtplib.SMTP_SSL``); SSL off with TLS on is STARTTLS; both off is plain text. The port, if
  empty, is smtplib's default: 465 with SSL, else 25.
- ``timeout`` (seconds, default 30) and ``retry_limit`` (default 5) are read with ``int()``.
- ``auth_type`` ``basic`` (the default) logs in only when both login and password are set; ``oauth2`` uses
  ``access_token`` if given, else fetches one with MSAL from ``client_id`` and ``client_secret`` in
  ``tenant_id`` (default ``common``) for ``scope`` (default ``https://outlook.office.com/.default``); its user is
  the login, else ``from_email``.
- ``ssl_context`` ``none`` turns off certificate checks; ``subject_template`` and ``html_content_template`` are
  paths of default bodies.

What has no equivalent comes back as one sentence per thing in :attr:`ConvertedConnection.notes`. Nothing comes
from Airflow at import time: :func:`read_connection` reads through it when called; :func:`convert` takes plain values.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.connection.fields import FIELDS, FIELDS_BY_KEY
from airflow_provider_smtpconn.smtp.settings import is_loopback

if TYPE_CHECKING:
    from collections.abc import Mapping

OFFICIAL_CONN_TYPE, SECRET_MASK = "smtp", "***"
#: The official hook's defaults for the extras it reads (``SmtpHook`` properties and ``_get_oauth2_token``).
OFFICIAL_TIMEOUT, OFFICIAL_RETRY_LIMIT = 30, 5
OFFICIAL_TENANT_ID, OFFICIAL_SCOPE = "common", "https://outlook.office.com/.default"
_OAUTH2_EXTRAS = ("access_token", "client_id", "client_secret", "tenant_id", "scope")
#: Every extra the official hook or its operator and notifier read.
OFFICIAL_EXTRAS = frozenset(
    {"from_email", "timeout", "retry_limit", "disable_tls", "disable_ssl", "ssl_context", "subject_template"}
    | {"html_content_template", "auth_type", *_OAUTH2_EXTRAS}
)
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class OfficialConnection:
    """The values of an Airflow connection that conversion reads; ``extra`` is the parsed extra JSON."""

    conn_id: str
    conn_type: str | None
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_airflow(cls, conn: Any) -> OfficialConnection:
        """Read an Airflow ``Connection``: its fields and ``extra_dejson``."""
        return cls(conn.conn_id, conn.conn_type, conn.host, conn.port, conn.login, conn.password, conn.extra_dejson)


@dataclass(frozen=True)
class ConvertedConnection:
    """An ``smtpconn`` connection: standard fields, extras in the order of ``settings.FIELDS``, and notes.

    :param notes: One sentence per setting of the official connection that is not carried over, or that
        needs a decision from the user.
    """

    conn_id: str
    host: str | None
    port: int
    login: str | None
    password: str | None
    extra: dict[str, Any]
    notes: tuple[str, ...]

    def as_dict(self, *, show_secrets: bool = False) -> dict[str, Any]:
        """The connection in Airflow's JSON form; the password and secret extras are ``***`` unless shown."""
        value: dict[str, Any] = {"conn_type": "smtpconn"}
        for key in ("host", "port", "login", "password"):
            if getattr(self, key) is not None:
                value[key] = getattr(self, key)
        value["extra"] = dict(self.extra)
        if not show_secrets:
            if "password" in value:
                value["password"] = SECRET_MASK
            for key in value["extra"]:
                if FIELDS_BY_KEY[key].is_secret:
                    value["extra"][key] = SECRET_MASK
        return value

    def env_line(self, *, show_secrets: bool = False) -> str:
        """``AIRFLOW_CONN_<ID>='{...}'``: the connection as an environment variable, quoted for a POSIX shell."""
        value = json.dumps(self.as_dict(show_secrets=show_secrets), ensure_ascii=False)
        if not re.fullmatch(r"[A-Za-z0-9_]+", self.conn_id):  # not a variable name: never pasted as shell code
            return f"# {self.conn_id!r} cannot be an environment variable name; use the command below."
        return f"AIRFLOW_CONN_{self.conn_id.upper()}={shlex.quote(value)}"

    def add_command(self, *, show_secrets: bool = False) -> str:
        """The ``airflow connections add`` command that creates the connection, quoted for a POSIX shell."""
        value = self.as_dict(show_secrets=show_secrets)
        words = ["airflow", "connections", "add", self.conn_id, "--conn-type", "smtpconn"]
        for key in ("host", "port", "login", "password"):
            if key in value:
                words += [f"--conn-{key}", str(value[key])]
        words += ["--conn-extra", json.dumps(value["extra"], ensure_ascii=False)]
        return shlex.join(words)


def read_connection(conn_id: str) -> OfficialConnection:
    """Fetch a connection as ``airflow connections get`` does: environment variables, secrets backends, the DB.

    The hooks' route (the task SDK) searches the metadata DB only inside Airflow's own processes; from a shell,
    on Airflow 3.1 and later, it would miss every connection made in the UI.

    :raises SmtpConfigError: Airflow has no connection ``conn_id`` (one sentence).
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    from airflow_provider_smtpconn.exceptions import SmtpConfigError

    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        raise SmtpConfigError(
            f"Airflow has no connection {conn_id!r}: check the id with `airflow connections list`."
        ) from None
    return OfficialConnection.from_airflow(conn)


def report(converted: ConvertedConnection, source_id: str, *, show_secrets: bool = False) -> str:
    """What ``smtpconn convert-connection`` prints: the two forms, then one ``#`` line per note (shell comments)."""
    secrets = "shown" if show_secrets else f"shown as {SECRET_MASK}; --show-secrets prints them"
    lines = [
        f"# The smtpconn connection equivalent to the smtp connection {source_id!r} (secrets {secrets}):",
        converted.env_line(show_secrets=show_secrets),
        converted.add_command(show_secrets=show_secrets),
        *(f"# {note}" for note in converted.notes),
    ]
    return "\n".join(lines)


def convert(conn: OfficialConnection, *, new_conn_id: str | None = None) -> ConvertedConnection:
    """The ``smtpconn`` connection that does what the official hook does with ``conn``.

    :param new_conn_id: The new connection's id; default: the same as ``conn``'s.
    :raises SmtpConfigError: ``conn`` is not of type ``smtp`` (one sentence, no value of the connection shown).
    """
    if conn.conn_type != OFFICIAL_CONN_TYPE:
        from airflow_provider_smtpconn.exceptions import SmtpConfigError

        raise SmtpConfigError(
            f"Connection {conn.conn_id!r} is of type {conn.conn_type!r}, not {OFFICIAL_CONN_TYPE!r}: "
            "convert-connection reads connections of the official SMTP provider only."
        )
    result = _Builder(conn_id=new_conn_id or conn.conn_id)
    extra = conn.extra
    tls_mode = _tls_mode(extra, result)
    result.port = conn.port or (465 if tls_mode == "implicit" else 25)
    result.host = conn.host or None
    if not result.host:
        result.note("The connection has no host: set the SMTP server's host name on the new connection.")
    result.put("from_email", extra.get("from_email"))
    result.put("tls_mode", tls_mode)
    _credentials(conn, result)
    _whole_number(extra, "timeout", OFFICIAL_TIMEOUT, result)
    _whole_number(extra, "retry_limit", OFFICIAL_RETRY_LIMIT, result)
    _leftovers(extra, tls_mode, result)
    if result.login and result.password and tls_mode == "none" and not is_loopback(result.host or ""):
        result.note(
            "TLS is off and the connection logs in: smtpconn refuses to send a password in plain text to a host "
            "other than this machine, so turn TLS on, or set allow_plaintext_auth to true for a trusted relay."
        )
    if not re.fullmatch(r"[A-Za-z0-9_]+", result.conn_id):
        result.note(
            f"The connection id {result.conn_id!r} cannot be an environment variable name: use the airflow "
            "connections add command, or choose an id of letters, digits and underscores."
        )
    return result.build()


# -- the parts -------------------------------------------------------------------------------------------


@dataclass
class _Builder:
    conn_id: str
    host: str | None = None
    port: int = 25
    login: str | None = None
    password: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def note(self, sentence: str) -> None:
        self.notes.append(sentence)

    def put(self, key: str, value: Any) -> None:
        """Set an extra if it passes the field's own check, else say why it is left out."""
        if value is None or value == "":
            return
        from airflow_provider_smtpconn.exceptions import SmtpConfigError

        try:
            FIELDS_BY_KEY[key].parse(key, value)
        except SmtpConfigError as exc:
            self.note(f"{exc} It is left out, so the smtpconn default applies.")
            return
        self.extra[key] = value

    def build(self) -> ConvertedConnection:
        order = [f.key for f in FIELDS]
        extra = {key: self.extra[key] for key in sorted(self.extra, key=order.index)}
        return ConvertedConnection(
            self.conn_id, self.host, self.port, self.login, self.password, extra, tuple(self.notes)
        )


def _official_flag(extra: Mapping[str, Any], key: str, result: _Builder) -> bool:
    value = extra.get(key, False)
    if isinstance(value, str) and value.strip().lower() in _FALSE_WORDS:
        result.note(
            f"{key} is the text {value!r}, which the official hook reads as true (any non-empty text is); "
            "it is converted as true."
        )
    return bool(value)


def _tls_mode(extra: Mapping[str, Any], result: _Builder) -> str:
    use_ssl = not _official_flag(extra, "disable_ssl", result)
    starttls = not _official_flag(extra, "disable_tls", result)
    if use_ssl:
        return "implicit"
    return "starttls" if starttls else "none"


def _whole_number(extra: Mapping[str, Any], key: str, default: int, result: _Builder) -> None:
    value = extra.get(key)
    if value is None:
        result.put(key, default)
        return
    try:
        number = int(value)
    except (TypeError, ValueError):
        result.note(
            f"{key} {value!r} is not a whole number (the official hook fails on it); it is left out, so the "
            "smtpconn default applies."
        )
        return
    result.put(key, number)


def _credentials(conn: OfficialConnection, result: _Builder) -> None:
    extra = conn.extra
    auth_type = extra.get("auth_type")
    given = [key for key in ("access_token", "client_id", "client_secret") if extra.get(key)]
    if auth_type is None and given:
        result.note(
            f"auth_type is not set, but {' and '.join(given)} {'are' if len(given) > 1 else 'is'}: converted as "
            "auth_type oauth2, which the official hook uses when the notifier asks for auth_type='oauth2'."
        )
        auth_type = "oauth2"
    elif auth_type not in (None, "basic", "oauth2"):
        result.note(f"auth_type {auth_type!r} is neither basic nor oauth2: converted as basic, as the official hook.")
        auth_type = "basic"
    if auth_type == "oauth2":
        _oauth2(conn, result)
    else:
        _basic(conn, result)


def _basic(conn: OfficialConnection, result: _Builder) -> None:
    if conn.login and conn.password:
        result.login, result.password = conn.login, conn.password
    elif conn.login:
        result.note(
            f"The login {conn.login!r} has no password, so the official hook does not log in; it is left out "
            "(smtpconn would log in with it)."
        )
    elif conn.password:
        result.note("The password has no login, so the official hook does not log in; it is left out.")
    unused = [key for key in _OAUTH2_EXTRAS if conn.extra.get(key)]
    if unused:
        result.note(f"{', '.join(unused)}: not used with auth_type basic, so left out.")


def _oauth2(conn: OfficialConnection, result: _Builder) -> None:
    extra = conn.extra
    result.login = conn.login or parseaddr(str(extra.get("from_email") or ""))[1] or None
    if not result.login:
        result.note("auth_type oauth2 needs the mailbox that sends: set the login on the new connection.")
    if conn.password:
        result.note("The password is not used with auth_type oauth2, so it is left out.")
    result.put("auth_type", "xoauth2")
    if extra.get("access_token"):
        result.put("access_token", extra["access_token"])
        unused = [key for key in _OAUTH2_EXTRAS[1:] if extra.get(key)]
        if unused:
            result.note(f"{', '.join(unused)}: not used when access_token is set, so left out.")
    elif extra.get("client_id") and extra.get("client_secret"):
        tenant_id = extra.get("tenant_id") or OFFICIAL_TENANT_ID
        for key, value in (
            ("oauth2_provider", "microsoft"),
            ("tenant_id", tenant_id),
            ("client_id", extra["client_id"]),
            ("client_secret", extra["client_secret"]),
            ("oauth2_scope", extra.get("scope") or OFFICIAL_SCOPE),
        ):
            result.put(key, value)
        if tenant_id in ("common", "consumers"):
            result.note(
                f"tenant_id is {tenant_id!r}, where Microsoft refuses the client-credentials grant (AADSTS9001023): "
                "set it to the app registration's Directory (tenant) ID."
            )
    else:
        result.note(
            "auth_type oauth2 has neither access_token nor client_id and client_secret, so the official hook "
            "cannot get a token either: set the OAuth2 fields on the new connection."
        )


def _leftovers(extra: Mapping[str, Any], tls_mode: str, result: _Builder) -> None:
    ssl_context = extra.get("ssl_context")
    if ssl_context == "none" and tls_mode != "none":
        result.note(
            "ssl_context 'none' (no certificate checks) is not carried over: the new connection checks the "
            "server's certificate; trust a private CA with ca_bundle, or set ignore_self_signed to true."
        )
    elif ssl_context not in (None, "default", "none"):
        result.note(f"ssl_context {ssl_context!r} is not a value the official hook accepts; it is left out.")
    for key, instead in (
        ("subject_template", "subject="),
        ("html_content_template", "html= (a value ending in .html is read from that template file)"),
    ):
        if extra.get(key):
            result.note(
                f"{key} {extra[key]!r} has no connection field here: give {instead} to SendEmailOperator or "
                "SendEmailNotifier."
            )
    for key in sorted(set(extra) - OFFICIAL_EXTRAS):
        result.note(f"The extra {key!r} is not one the official hook reads; it is left out.")
