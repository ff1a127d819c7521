"""Parsing and checking one connection value, typed (JSON extras) or text (the UI stores numbers as text)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_smtpconn.exceptions import SmtpConfigError


def config_error(message: str) -> SmtpConfigError:
    """A :class:`SmtpConfigError` with ``message``.

    Imported here, not at the top: Airflow's provider discovery imports the field declarations while Airflow
    itself is still initialising, before the Airflow exceptions this package's errors derive from can load.
    """
    from airflow_provider_smtpconn.exceptions import SmtpConfigError

    return SmtpConfigError(message)


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float,
    inclusive: bool = True,
    integer: bool = False,
    maximum: float = math.inf,
    parameter: bool = False,
) -> float | int:
    """Coerce ``value`` (a number, or its text: the UI stores numbers as text, Jinja renders them to text) and
    check it is finite, at least (or above) ``minimum`` and at most ``maximum``. The one number check of the
    package, for connection fields and for operator parameters alike.

    :param parameter: ``value`` is an operator's parameter (the error is :class:`InvalidMessageError` and names
        ``name`` alone), not a connection field (:class:`SmtpConfigError`, "The connection's ``name``").
    :raises SmtpConfigError: naming the field and the value, if it is not such a number.
    :raises InvalidMessageError: the same, for a ``parameter``.
    """
    kind = "a whole number" if integer else "a number"
    try:
        if isinstance(value, bool) or value is None:
            raise ValueError
        number = float(value)
        if not math.isfinite(number) or (integer and not number.is_integer()):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise _number_error(parameter, f"{name} {value!r} is not {kind}.") from None
    if number < minimum or (not inclusive and number == minimum):
        bound = f"at least {minimum:g}" if inclusive else f"above {minimum:g}"
        raise _number_error(parameter, f"{name} {value!r} must be {bound}.")
    if number > maximum:
        raise _number_error(parameter, f"{name} {value!r} must be at most {maximum:g}.")
    return int(number) if integer else number


def _number_error(parameter: bool, sentence: str) -> Exception:
    if parameter:
        from airflow_provider_smtpconn.exceptions import InvalidMessageError

        return InvalidMessageError(sentence)
    return config_error(f"The connection's {sentence}")


def text(name: str, value: Any) -> str | None:
    """Stripped text, ``None`` if empty; raises :class:`SmtpConfigError` if not text."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise config_error(f"The connection's {name} {value!r} is not text.")
    return value.strip() or None


def long_text(name: str, value: Any) -> str | None:
    """Like :func:`text`, but an error does not show the value: it may be long (PEM text) or hold a token."""
    if value is not None and not isinstance(value, str):
        raise config_error(f"The connection's {name} is not text (a {type(value).__name__} was given).")
    return text(name, value)


def secret(name: str, value: Any) -> str | None:
    """Like :func:`text`, but an error never shows the value; a JSON object (a key file given as an object in the
    extra JSON) is taken as its JSON text.
    """
    if isinstance(value, dict):
        import json

        return json.dumps(value)
    if value is not None and not isinstance(value, str):
        raise config_error(f"The connection's {name} is not text (its value is not shown: it is a secret).")
    return text(name, value)


def flag(name: str, value: Any) -> bool:
    """A boolean, or its text (true/false, yes/no, on/off, 1/0); raises :class:`SmtpConfigError` otherwise."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise config_error(f"The connection's {name} {value!r} is not true or false.")


def number(
    *, minimum: float, inclusive: bool = True, integer: bool = False, maximum: float = math.inf
) -> Callable[[str, Any], Any]:
    """A parser for a number field (see :func:`check_number`); empty is ``None``."""

    def parse(name: str, value: Any) -> Any:
        if value is None or value == "":
            return None
        return check_number(name, value, minimum=minimum, inclusive=inclusive, integer=integer, maximum=maximum)

    return parse


def choice(options: tuple[str, ...], *, auto: str | None = None) -> Callable[[str, Any], Any]:
    """Text that must be one of ``options``; ``auto`` (or empty) means "not set"."""

    def parse(name: str, value: Any) -> Any:
        given = text(name, value)
        if given is None or (auto is not None and given.lower() == auto.lower()):
            return None
        match = next((o for o in options if o.lower() == given.lower()), None)
        if match is None:
            shown = ", ".join(options) + (f" or {auto}" if auto else "")
            raise config_error(f"{name} {value!r} is not one of {shown}.")
        return match

    return parse


def parse_port(value: Any) -> int | None:
    """The connection's port as an int (``None`` if empty); raises :class:`SmtpConfigError` if not 1-65535."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        port = int(value)
    except (TypeError, ValueError, OverflowError):
        raise config_error(f"The connection's port {value!r} is not a number from 1 to 65535.") from None
    if not 0 < port < 65536:
        raise config_error(f"The connection's port {value!r} is not a number from 1 to 65535.")
    return port


def domain_name(name: str, value: Any) -> str | None:
    """A DNS name (a domain, a DKIM selector) in lower-case ASCII, IDNA for non-ASCII labels; ``None`` if empty.

    :raises SmtpConfigError: naming the field and the value, if it is not a DNS name.
    """
    from airflow_provider_smtpconn.message.addresses import ascii_domain

    given = text(name, value)
    if given is None:
        return None
    converted = ascii_domain(given)
    if converted is None or converted.startswith("["):
        raise config_error(f"The connection's {name} {given!r} is not a DNS name (labels of letters, digits and -).")
    return converted
