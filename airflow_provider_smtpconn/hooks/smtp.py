"""The ``smtpconn`` hook: an Airflow Connection turned into SMTP settings, and sending through them."""

from __future__ import annotations

import json
import math
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import SmtpConfigError, SmtpConnError
from airflow_provider_smtpconn.hooks.connection_form import CONN_TYPE

try:
    from airflow.sdk.bases.hook import BaseHook
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]

if TYPE_CHECKING:
    from collections.abc import Callable
    from email.message import Message

    from airflow.sdk import Connection

    from airflow_provider_smtpconn.transport import SendResult, SmtpSession, SmtpSettings

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


class SmtpConnHook(BaseHook):
    """Send email through an ``smtpconn`` connection.

    Used as a context manager it keeps one SMTP session open for many messages and sends QUIT on exit;
    otherwise each :meth:`send` opens and closes its own.

    :param smtp_conn_id: The Airflow connection to use.
    """

    conn_name_attr = "smtp_conn_id"
    default_conn_name = "smtpconn_default"
    conn_type = CONN_TYPE
    hook_name = "SMTP Connector"

    def __init__(self, smtp_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.smtp_conn_id = smtp_conn_id
        self._session: SmtpSession | None = None

    @cached_property
    def connection(self) -> Connection:
        """The Airflow connection, fetched once; its secrets are registered with the masker."""
        conn = self.get_connection(self.smtp_conn_id)
        _mask(conn.password, _extras(conn).get("access_token"))
        return conn

    @cached_property
    def settings(self) -> SmtpSettings:
        """The transport settings read from the connection; raises :class:`SmtpConfigError` if invalid."""
        return settings_from_connection(self.connection)

    @property
    def from_email(self) -> str | None:
        """The connection's default sender: its ``from_email`` extra, else its login if that is an address."""
        extra = _extras(self.connection)
        sender = _text(extra, "from_email")
        if sender:
            return sender
        login = self.connection.login
        return login if login and "@" in login else None

    @property
    def max_attachment_bytes(self) -> int:
        """The largest single attachment this connection accepts, in bytes."""
        mb = _number(_extras(self.connection), "max_attachment_mb", 10.0, minimum=0, inclusive=False)
        return int(mb * 1024 * 1024)

    def get_conn(self) -> SmtpSession:
        """The open SMTP session of this hook (connected on first use)."""
        from airflow_provider_smtpconn.transport import SmtpSession

        if self._session is None:
            self._session = SmtpSession(self.settings)
        return self._session

    def __enter__(self) -> SmtpConnHook:
        self.get_conn()
        return self

    def __exit__(self, *exc_info: object) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def send(self, message: Message, *, on_commit: Callable[[str], None] | None = None) -> SendResult:
        """Send one ``email.message.EmailMessage``; see :meth:`SmtpSession.send` for the delivery rules and
        ``on_commit``."""
        if self._session is not None:
            return self._session.send(message, on_commit=on_commit)
        with self as hook:
            return hook.get_conn().send(message, on_commit=on_commit)

    def test_connection(self) -> tuple[bool, str]:
        """Connect, TLS, EHLO, AUTH and NOOP, sending no mail; never raises."""
        from airflow_provider_smtpconn.transport import SmtpSession

        try:
            return True, SmtpSession(self.settings).check()
        except SmtpConnError as exc:
            return False, str(exc)
        except Exception as exc:
            return False, f"Testing connection {self.smtp_conn_id!r} failed: {type(exc).__name__}: {exc}"


def settings_from_connection(conn: Connection) -> SmtpSettings:
    """Read and validate the SMTP settings of an Airflow connection, naming any field that is wrong."""
    from airflow_provider_smtpconn.transport import SmtpSettings

    extra = _extras(conn)
    password = conn.password or _text(extra, "access_token")
    if _text(extra, "auth_type") == "xoauth2" and _text(extra, "access_token"):
        password = _text(extra, "access_token")
    return SmtpSettings(
        host=conn.host or "",
        port=_port(conn.port),
        tls_mode=_text(extra, "tls_mode"),
        username=conn.login or None,
        password=password,
        auth_type=_text(extra, "auth_type") or "basic",
        ignore_self_signed=_flag(extra, "ignore_self_signed"),
        ca_bundle=_text(extra, "ca_bundle"),
        timeout=_number(extra, "timeout", 30.0, minimum=0, inclusive=False),
        retry_limit=int(_number(extra, "retry_limit", 3, minimum=0, integer=True)),
        retry_wait=_number(extra, "retry_wait", 1.0, minimum=0),
        local_hostname=_text(extra, "local_hostname"),
        allow_plaintext_auth=_flag(extra, "allow_plaintext_auth"),
    )


def _mask(*secrets: str | None) -> None:
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow 3.0
        from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]
    for secret in secrets:
        if secret:
            mask_secret(secret)


def _extras(conn: Connection) -> dict[str, Any]:
    raw = conn.extra
    if not raw:
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise SmtpConfigError(
            f"The extra of connection {conn.conn_id!r} is not valid JSON; give it as a JSON object."
        ) from None
    if not isinstance(value, dict):
        raise SmtpConfigError(f"The extra of connection {conn.conn_id!r} is not a JSON object.")
    # The UI stores plain keys; older forms prefixed them with extra__<conn_type>__.
    prefix = f"extra__{CONN_TYPE}__"
    return {key.removeprefix(prefix): val for key, val in value.items()}


def _text(extra: dict[str, Any], name: str) -> str | None:
    value = extra.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SmtpConfigError(f"The connection's {name} {value!r} is not text.")
    return value.strip() or None


def _flag(extra: dict[str, Any], name: str) -> bool:
    value = extra.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise SmtpConfigError(f"The connection's {name} {value!r} is not true or false.")


def _number(
    extra: dict[str, Any],
    name: str,
    default: float,
    *,
    minimum: float,
    inclusive: bool = True,
    integer: bool = False,
) -> float:
    value = extra.get(name)
    if value is None or value == "":
        return default
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if not math.isfinite(number) or (integer and not number.is_integer()):
            raise ValueError
    except (TypeError, ValueError):
        kind = "a whole number" if integer else "a number"
        raise SmtpConfigError(f"The connection's {name} {value!r} is not {kind}.") from None
    if number < minimum or (not inclusive and number == minimum):
        bound = f"at least {minimum:g}" if inclusive else f"above {minimum:g}"
        raise SmtpConfigError(f"The connection's {name} {value!r} must be {bound}.")
    return number


def _port(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        port = int(value)
    except (TypeError, ValueError, OverflowError):
        raise SmtpConfigError(f"The connection's port {value!r} is not a number from 1 to 65535.") from None
    if not 0 < port < 65536:
        raise SmtpConfigError(f"The connection's port {value!r} is not a number from 1 to 65535.")
    return port
