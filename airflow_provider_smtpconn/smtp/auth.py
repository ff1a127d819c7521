"""SMTP AUTH (RFC 4954): choosing one mechanism and making one attempt per connection.

``smtplib.SMTP.login()`` tries every offered mechanism in turn, and each failed try counts towards the
account's lockout; here exactly one mechanism is tried. For ``auth_type`` ``basic`` it is the connection's
``auth_mechanism``, or, when that is automatic, the first of PLAIN, LOGIN and CRAM-MD5 that the server offers
(PLAIN first: relays such as Postfix with saslauthd advertise CRAM-MD5 but cannot verify it, and the password
only ever travels inside TLS or to a loopback host, see ``smtp/settings.py``). ``xoauth2`` uses XOAUTH2.
"""

from __future__ import annotations

import smtplib
from typing import TYPE_CHECKING

from airflow_provider_smtpconn.exceptions import ServerRejectedTokenError, SmtpAuthError, SmtpTemporaryError
from airflow_provider_smtpconn.smtp.replies import reply_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_smtpconn.oauth import AccessToken
    from airflow_provider_smtpconn.smtp.settings import SmtpSettings

#: The order ``auth_mechanism`` automatic prefers, among the mechanisms the server offers.
AUTO_ORDER = ("PLAIN", "LOGIN", "CRAM-MD5")


def offered_mechanisms(smtp: smtplib.SMTP) -> list[str]:
    """The mechanisms the server's EHLO reply lists after AUTH, upper-cased."""
    return smtp.esmtp_features.get("auth", "").upper().split()


def choose_mechanism(settings: SmtpSettings, offered: list[str]) -> str:
    """The one mechanism to try.

    :raises SmtpAuthError: if the server offers none that the connection may use.
    """
    if settings.auth_type == "xoauth2":
        wanted: tuple[str, ...] = ("XOAUTH2",)
    elif settings.auth_mechanism:
        wanted = (settings.auth_mechanism,)
    else:
        wanted = AUTO_ORDER
    mechanism = next((m for m in wanted if m in offered), None)
    if mechanism is None:
        chosen = (
            f"auth_mechanism {settings.auth_mechanism!r}"
            if settings.auth_mechanism and settings.auth_type != "xoauth2"
            else f"auth_type {settings.auth_type!r}"
        )
        raise SmtpAuthError(
            f"{settings.address} offers AUTH {' '.join(offered) or '(nothing)'}, none of which {chosen} can use "
            f"({', '.join(wanted)})."
        )
    return mechanism


def authenticate(smtp: smtplib.SMTP, settings: SmtpSettings, token: AccessToken | None = None) -> str:
    """Authenticate once with the chosen mechanism; return the mechanism used.

    :param token: An OAuth2 token from the settings' token source, used instead of the password.
    :raises SmtpAuthError: the credentials were rejected (5xx) or AUTH failed; names the user and the
        mechanism, never the secret, and points to ``auth_mechanism`` when the server offered others.
    :raises ServerRejectedTokenError: the server rejected ``token`` (5xx).
    :raises SmtpTemporaryError: the server answered 4xx (try again later).
    """
    user, secret = settings.username or "", token.value if token is not None else settings.password or ""
    offered = offered_mechanisms(smtp)
    mechanism = choose_mechanism(settings, offered)
    smtp.user, smtp.password = user, secret
    try:
        if mechanism == "XOAUTH2":
            smtp.auth("XOAUTH2", _xoauth2(user, secret))  # type: ignore[arg-type]  # smtplib types it as an overloaded protocol
        else:
            smtp.auth(mechanism, getattr(smtp, "auth_" + mechanism.lower().replace("-", "_")))
    except smtplib.SMTPAuthenticationError as exc:
        if token is not None and exc.smtp_code >= 500:
            raise ServerRejectedTokenError(
                f"{settings.address} rejected the OAuth2 token from {token.source} for {user!r}: "
                f"{exc.smtp_code} {reply_text(exc.smtp_error)}."
            ) from None
        raise _rejected(settings, mechanism, offered, exc) from None
    except smtplib.SMTPServerDisconnected:
        raise
    except smtplib.SMTPException as exc:
        raise SmtpAuthError(
            f"Authentication of {user!r} at {settings.address} with {mechanism} failed: {exc}"
        ) from None
    return mechanism


def _xoauth2(user: str, token: str) -> Callable[[bytes | None], str]:
    # The initial response carries the token; a 334 challenge after it is an error report, answered empty.
    def respond(challenge: bytes | None = None) -> str:
        return f"user={user}\x01auth=Bearer {token}\x01\x01" if challenge is None else ""

    return respond


def _rejected(
    settings: SmtpSettings, mechanism: str, offered: list[str], exc: smtplib.SMTPAuthenticationError
) -> SmtpAuthError | SmtpTemporaryError:
    user, text = settings.username or "", reply_text(exc.smtp_error)
    if 400 <= exc.smtp_code < 500:
        return SmtpTemporaryError(
            f"{settings.address} could not authenticate {user!r} right now: {exc.smtp_code} {text}",
            exc.smtp_code,
            text,
        )
    others = [m for m in offered if m != mechanism and m in AUTO_ORDER]
    hint = ""
    if others and settings.auth_type == "basic":
        hint = f"; the server also offers {', '.join(others)}: choose one with the connection's auth_mechanism"
    return SmtpAuthError(
        f"{settings.address} rejected the credentials of {user!r} ({settings.auth_type}, {mechanism}): "
        f"{exc.smtp_code} {text}{hint}."
    )
