"""The ``smtpconn`` hook: an Airflow Connection turned into SMTP settings, and sending through them."""

from __future__ import annotations

import json
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.connection.fields import DKIM_FIELDS, FIELDS, FIELDS_BY_KEY
from airflow_provider_smtpconn.connection.form import CONN_TYPE, HOOK_NAME
from airflow_provider_smtpconn.exceptions import SmtpConfigError, SmtpProviderError
from airflow_provider_smtpconn.version_compat import BaseHook

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from email.message import Message

    from airflow.sdk import Connection

    from airflow_provider_smtpconn.message.dkim import DkimSigner
    from airflow_provider_smtpconn.message.envelope import Envelope
    from airflow_provider_smtpconn.message.writer import WireMessage
    from airflow_provider_smtpconn.smtp.session import SmtpSession
    from airflow_provider_smtpconn.smtp.settings import SmtpSettings
    from airflow_provider_smtpconn.smtp.transaction import SendOutcome, SendResult


class SmtpConnHook(BaseHook):
    """Send email through an ``smtpconn`` connection.

    Used as a context manager it keeps one SMTP session open for many messages and sends QUIT on exit;
    otherwise each :meth:`send` (or :meth:`send_many`) opens and closes its own.

    :param smtp_conn_id: The Airflow connection to use.
    """

    conn_name_attr = "smtp_conn_id"
    default_conn_name = "smtpconn_default"
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The form's extra fields for Airflow 3.0 and 3.1 (later versions read ``conn-fields`` instead)."""
        from airflow_provider_smtpconn.connection.legacy_form import form_widgets

        return form_widgets(cls.conn_type)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The standard fields' labels and placeholders for Airflow 3.0 and 3.1 (see ``ui-field-behaviour``)."""
        from airflow_provider_smtpconn.connection.legacy_form import field_behaviour

        return field_behaviour(cls.conn_type)

    def __init__(self, smtp_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.smtp_conn_id = smtp_conn_id
        self._session: SmtpSession | None = None

    @cached_property
    def connection(self) -> Connection:
        """The Airflow connection, fetched once; its secrets are registered with the masker."""
        conn = self.get_connection(self.smtp_conn_id)
        from airflow_provider_smtpconn.oauth.base import mask

        mask(*_secrets(conn))
        return conn

    async def aconnection(self) -> Connection:
        """Fetch the connection without blocking the event loop (the triggerer's ``aget_connection``).

        Later uses of :attr:`connection` return this one, so the rest of a send can run in a worker thread.
        """
        if "connection" not in self.__dict__:
            conn = await self.aget_connection(self.smtp_conn_id)
            await _amask(*_secrets(conn))
            self.__dict__["connection"] = conn
        return self.__dict__["connection"]

    def use_connection(self, conn: Connection) -> None:
        """Use ``conn`` instead of fetching ``smtp_conn_id`` (the ``smtpconn`` command reads connections as
        ``airflow connections get`` does, so that those made in the UI are found from a shell); its secrets are
        registered with the masker as for a fetched one.
        """
        from airflow_provider_smtpconn.oauth.base import mask

        mask(*_secrets(conn))
        self.__dict__["connection"] = conn

    @cached_property
    def settings(self) -> SmtpSettings:
        """The transport settings read from the connection; raises :class:`SmtpConfigError` if invalid."""
        return settings_from_connection(self.connection)

    @property
    def from_email(self) -> str | None:
        """The connection's default sender: its ``from_email`` extra, else its login if that is an address."""
        sender = FIELDS_BY_KEY["from_email"].read(self.extras)
        if sender:
            return sender
        login = self.connection.login
        return login if login and "@" in login else None

    @property
    def max_attachment_bytes(self) -> int:
        """The largest single attachment this connection accepts, in bytes (``max_attachment_mb`` MiB)."""
        mb = FIELDS_BY_KEY["max_attachment_mb"].read(self.extras)
        return int(mb * 1024 * 1024)

    @cached_property
    def extras(self) -> dict[str, Any]:
        """The connection's extra fields (plain keys), parsed once.

        :raises SmtpConfigError: if the extra is not a JSON object.
        """
        return _extras(self.connection)

    @cached_property
    def message_id_domain(self) -> str | None:
        """The connection's ``message_id_domain``: the Message-ID's right-hand side, ``None`` for the sender's."""
        return FIELDS_BY_KEY["message_id_domain"].read(self.extras)

    @cached_property
    def dkim_signer(self) -> DkimSigner | None:
        """The DKIM signer of the connection's ``dkim_*`` fields, ``None`` if they are empty; the key (pasted or read
        from its file) is registered with the masker, line by line.

        :raises SmtpConfigError: if only some of the three are set, or the key is not a usable RSA private key.
        """
        extra = self.extras
        values = {f.key: f.read(extra) for f in DKIM_FIELDS}
        if not any(values.values()):
            return None
        missing = [key for key, value in values.items() if not value]
        if missing:
            raise SmtpConfigError(
                f"DKIM signing needs dkim_domain, dkim_selector and dkim_private_key; {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} empty on connection {self.smtp_conn_id!r}."
            )
        from airflow_provider_smtpconn.message.dkim import DkimSigner, read_key
        from airflow_provider_smtpconn.oauth.base import mask

        key = read_key(values["dkim_private_key"]).decode("ascii", "replace").strip()
        # The masker matches a secret whole; a log line may hold one line of the PEM key, so each is a secret too.
        mask(key, *(line.strip() for line in key.splitlines() if len(line.strip()) > 16 and "PRIVATE" not in line))
        return DkimSigner.from_fields(values["dkim_domain"], values["dkim_selector"], key)

    def check_fields(self) -> SmtpSettings:
        """Check every field of the connection as a send would, without connecting; return the settings.

        :raises SmtpConfigError: naming the first field that is invalid.
        :raises InvalidMessageError: if the default sender is not one address.
        """
        extra = self.extras
        for declared in FIELDS:
            declared.read(extra)
        if self.from_email:
            from airflow_provider_smtpconn.message.addresses import parse_addresses

            if len(parse_addresses(self.from_email, "from_email")) != 1:
                raise SmtpConfigError(f"The connection's from_email {self.from_email!r} is not one address.")
        self.dkim_signer  # noqa: B018  # builds the signer: a key that cannot be read fails here
        return self.settings

    def get_conn(self) -> SmtpSession:
        """The open SMTP session of this hook (connected on first use)."""
        from airflow_provider_smtpconn.smtp.session import SmtpSession

        if self._session is None:
            self._session = SmtpSession(self.settings)
        return self._session

    def new_session(self) -> SmtpSession:
        """A new SMTP session over this connection, apart from the hook's own (for sessions side by side);
        use it as a context manager, which sends QUIT on exit.

        :raises SmtpConfigError: if a field of the connection is invalid.
        """
        from airflow_provider_smtpconn.smtp.session import SmtpSession

        return SmtpSession(self.settings)

    def __enter__(self) -> SmtpConnHook:
        self.get_conn()
        return self

    def __exit__(self, *exc_info: object) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def send(
        self,
        message: Message | WireMessage,
        *,
        envelope: Envelope | None = None,
        on_commit: Callable[[str], object] | None = None,
    ) -> SendResult:
        """Send one message over this hook's session (or a session of its own); see ``SmtpSession.send`` for the
        delivery rules.

        :param message: A standard library ``email.message.EmailMessage`` (written for the wire here: the Bcc
            header left out, a Message-ID at ``message_id_domain`` added if missing, every header through the
            header guard, 8-bit parts re-encoded 7-bit safe, signed if DKIM is set up), or a ``WireMessage`` from
            ``sending.prepare_email`` (sent as it is: already signed there).
        :param envelope: Sender and recipients of an ``EmailMessage``, if not those of its headers.
        :param on_commit: Called with the Message-ID right before the final ``.`` of DATA.
        :raises InvalidMessageError: for a message without sender or recipient, or a header that could inject
            another.
        """
        wire = self.wire_message(message, envelope)
        if self._session is not None:
            return self._session.send(wire, on_commit=on_commit)
        with self as hook:
            return hook.get_conn().send(wire, on_commit=on_commit)

    def wire_message(self, message: Message | WireMessage, envelope: Envelope | None = None) -> WireMessage:
        """``message`` for the wire: a ``WireMessage`` as it is (``sending.prepare_email`` signed it already); a
        standard library message written at the door (``message/email_message.py``) with a Message-ID at
        ``message_id_domain`` if it has none, and signed if the connection has DKIM fields.

        :raises InvalidMessageError: see ``from_email_message``. :raises SmtpConfigError: for a DKIM field.
        """
        from airflow_provider_smtpconn.message.email_message import from_email_message
        from airflow_provider_smtpconn.message.writer import WireMessage

        if isinstance(message, WireMessage):
            return message
        wire = from_email_message(message, envelope, message_id_domain=self.message_id_domain)
        return wire if self.dkim_signer is None else self.dkim_signer.sign(wire)

    def send_many(
        self, messages: Iterable[Message | WireMessage], *, on_commit: Callable[[str], object] | None = None
    ) -> list[SendOutcome]:
        """Send the messages in order over one session: pipelined when the server offers PIPELINING, each message's
        envelope in the same write as the previous message's final dot (one round trip per message).

        :param messages: ``email.message.EmailMessage`` objects (written at the door as for :meth:`send`; one that
            cannot be, say without a recipient, gets its error as its outcome) or ``WireMessage`` ones.
        :param on_commit: Called with a message's Message-ID right before its final ``.``.
        :return: One ``SendOutcome`` per message, in order, holding its ``SendResult`` or its error; see
            :meth:`SmtpSession.send_many`. Only a connection field that is invalid is raised (before connecting).
        """
        from airflow_provider_smtpconn.exceptions import InvalidMessageError
        from airflow_provider_smtpconn.message.writer import WireMessage
        from airflow_provider_smtpconn.smtp.transaction import SendOutcome

        refused: dict[int, SendOutcome] = {}
        wires: list[WireMessage] = []
        for index, message in enumerate(messages):
            try:
                wires.append(self.wire_message(message))
            except InvalidMessageError as exc:
                given = message.get("Message-ID") if not isinstance(message, WireMessage) else message.message_id
                refused[index] = SendOutcome(str(given or "").strip(), error=exc)
        if self._session is not None:
            sent = iter(self._session.send_many(wires, on_commit=on_commit))
        else:
            with self as hook:
                sent = iter(hook.get_conn().send_many(wires, on_commit=on_commit))
        return [refused[i] if i in refused else next(sent) for i in range(len(wires) + len(refused))]

    def test_connection(self) -> tuple[bool, str]:
        """Connect, TLS, EHLO, AUTH and NOOP, sending no mail; never raises."""
        from airflow_provider_smtpconn.smtp.session import SmtpSession

        try:
            return True, SmtpSession(self.check_fields()).check()
        except SmtpProviderError as exc:
            return False, str(exc)
        except Exception as exc:
            return False, f"Testing connection {self.smtp_conn_id!r} failed: {type(exc).__name__}: {exc}"


def settings_from_connection(conn: Connection) -> SmtpSettings:
    """Read and validate the SMTP settings of an Airflow connection, naming any field that is wrong.

    :raises SmtpConfigError: for the first field that is invalid.
    """
    from airflow_provider_smtpconn.smtp.settings import settings_from_extras

    return settings_from_extras(_extras(conn), host=conn.host, port=conn.port, login=conn.login, password=conn.password)


async def _amask(*secrets: str | None) -> None:
    from airflow.sdk.log import amask_secret

    for secret in secrets:
        if secret:
            await amask_secret(secret)


def _secrets(conn: Connection) -> list[Any]:
    """The password and the extras the form shows as password fields; a service-account key only when pasted
    (a path is not a secret; the key itself is masked line by line when it is read).
    """
    extra = _extras(conn)
    values = [conn.password, *(extra.get(f.key) for f in FIELDS if f.is_secret and f.key != "service_account_json")]
    key = extra.get("service_account_json")
    return [*values, key if isinstance(key, str) and key.lstrip().startswith("{") else None]


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
