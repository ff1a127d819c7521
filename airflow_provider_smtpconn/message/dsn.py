"""Delivery status notifications (RFC 3461): the ``dsn`` parameter, checked, and the envelope parameters it becomes.

``dsn={"notify": ["failure", "delay"], "ret": "headers", "envid": "invoice-2024-117"}`` asks the servers on the
way to report back to the sender (MAIL FROM): NOTIFY on each RCPT says when (``success``, ``failure``, ``delay``,
or ``never`` alone), RET on MAIL how much of the message the report carries (``full`` or ``headers``), ENVID on MAIL
an identifier the report quotes, so that a bounce can be matched to what was sent (a mail merge's row key). The
session sends them only to a server that offers DSN; to one that does not, it warns once and sends without.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.message.read_back import looks_rendered, read_back

FIELD = "dsn"
NOTIFY = ("success", "failure", "delay", "never")
#: ``ret`` -> the RET keyword (RFC 3461 section 4.3).
RET = {"full": "FULL", "headers": "HDRS", "hdrs": "HDRS"}
#: RFC 3461 section 4.4: ENVID is at most 100 characters, in xtext.
MAX_ENVID = 100


@dataclass(frozen=True)
class DsnRequest:
    """What ``dsn`` asked for, checked.

    :param notify: When to report, upper-case (``SUCCESS``, ``FAILURE``, ``DELAY``, or ``NEVER``); empty for the
        server's default (failures and delays).
    :param ret: ``FULL`` or ``HDRS``; ``None`` for the server's default.
    :param envid: The envelope identifier as given (sent as xtext); ``None`` for none.
    """

    notify: tuple[str, ...] = ()
    ret: str | None = None
    envid: str | None = None

    def mail_options(self) -> list[str]:
        """The MAIL FROM parameters: ``RET=`` and ``ENVID=``."""
        options = [f"RET={self.ret}"] if self.ret else []
        if self.envid:
            options.append(f"ENVID={xtext(self.envid)}")
        return options

    def rcpt_options(self) -> list[str]:
        """The RCPT TO parameters: ``NOTIFY=``."""
        return [f"NOTIFY={','.join(self.notify)}"] if self.notify else []

    def with_envid(self, envid: str) -> DsnRequest:
        """The same request with ``envid``; a value that is not printable ASCII (RFC 3461 section 4.4), or whose xtext
        would pass 100 characters, is replaced by ``sha256:``
        and the first 32 hex digits of its SHA-256 (what a bounce then quotes).
        """
        if len(xtext(envid)) > MAX_ENVID or not (envid.isascii() and envid.isprintable()):
            envid = "sha256:" + hashlib.sha256(envid.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return replace(self, envid=envid)


def parse_dsn(value: Any) -> DsnRequest | None:
    """``dsn`` as a :class:`DsnRequest`: a mapping with ``notify`` (one value or a list), ``ret`` and ``envid``, all
    optional (or such a mapping that Jinja rendered to text); ``None`` for ``None`` or empty.

    :raises InvalidMessageError: naming ``dsn`` and the value at fault.
    """
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, str) and looks_rendered(value):
        value = read_back(value, FIELD)
    if not isinstance(value, Mapping):
        raise InvalidMessageError(f"dsn {value!r} is not a mapping with notify, ret and envid.")
    unknown = sorted(str(k) for k in value if k not in ("notify", "ret", "envid"))
    if unknown:
        raise InvalidMessageError(f"dsn has {', '.join(unknown)}; it takes notify, ret and envid.")
    return DsnRequest(_notify(value.get("notify")), _ret(value.get("ret")), _envid(value.get("envid")))


def xtext(text: str) -> str:
    """``text`` as xtext (RFC 3461 section 4): UTF-8 octets from ``!`` to ``~`` as they are, except ``+`` and ``=``,
    which like every other octet become ``+`` and two upper-case hex digits.
    """
    return "".join(
        chr(b) if 33 <= b <= 126 and b not in (43, 61) else f"+{b:02X}" for b in text.encode("utf-8", "surrogatepass")
    )


def _notify(value: Any) -> tuple[str, ...]:
    if value is None or value == "" or value == []:
        return ()
    given = [value] if isinstance(value, str) else value
    if not isinstance(given, (list, tuple)) or not all(isinstance(v, str) for v in given):
        raise InvalidMessageError(f"dsn notify {value!r} is not one of {', '.join(NOTIFY)}, or a list of them.")
    words = [w.strip().lower() for v in given for w in v.split(",") if w.strip()]
    unknown = [w for w in words if w not in NOTIFY]
    if unknown:
        raise InvalidMessageError(f"dsn notify has {unknown[0]!r}, which is not one of {', '.join(NOTIFY)}.")
    if "never" in words and len(set(words)) > 1:
        raise InvalidMessageError("dsn notify 'never' stands alone (RFC 3461 section 4.1); drop the others.")
    return tuple(dict.fromkeys(w.upper() for w in words))


def _ret(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value.strip().lower() not in RET:
        raise InvalidMessageError(f"dsn ret {value!r} is not 'full' or 'headers'.")
    return RET[value.strip().lower()]


def _envid(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise InvalidMessageError(f"dsn envid {value!r} is not text.")
    envid = str(value)
    if not (envid.isascii() and envid.isprintable()) or len(xtext(envid)) > MAX_ENVID:
        raise InvalidMessageError(
            f"dsn envid {envid[:120]!r} is not printable ASCII of at most {MAX_ENVID} characters once encoded as "
            "xtext (RFC 3461 section 4.4)."
        )
    return envid
