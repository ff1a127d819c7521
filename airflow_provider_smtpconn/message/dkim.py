"""DKIM signatures (RFC 6376) over a :class:`WireMessage`'s exact bytes, with the body hashed as it streams.

dkimpy signs: its header canonicalization, its RSA signature and its folding of the ``DKIM-Signature`` field. Its
``DKIM.sign`` takes the whole message in memory, though, and a 25 MiB attachment would be held several times over
(the bytes, then their canonical copy). So the body hash (``bh=``) is computed here, a chunk at a time as the
message's bytes are written, with relaxed body canonicalization (RFC 6376 section 3.4.4) built on dkimpy's own
functions, and dkimpy's ``gen_header`` signs the headers with it. Memory stays at the headers plus one chunk.

Choices: ``rsa-sha256`` (RFC 8301: keys of at least 1024 bits; 2048 advised), ``c=relaxed/relaxed``, the headers
RFC 6376 section 5.4.1 recommends (dkimpy's list) plus ``List-Unsubscribe-Post`` (RFC 8058 section 4 wants both
list headers signed), ``From`` always, and signed twice so no second ``From`` can be added.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.exceptions import SmtpConfigError

if TYPE_CHECKING:
    from airflow_provider_smtpconn.message.writer import WireMessage

CRLF = b"\r\n"
ALGORITHM = b"rsa-sha256"
CANONICALIZATION = b"relaxed/relaxed"
#: RFC 8301 section 3.2: verifiers MUST NOT consider signatures with keys below 1024 bits valid.
MIN_KEY_BITS = 1024
FIELD = "dkim_private_key"
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_RSA_LABELS = (b"RSA PRIVATE KEY", b"PRIVATE KEY")
_EXTRA_SIGNED = (b"list-unsubscribe-post",)


@dataclass(frozen=True)
class DkimSigner:
    """Signs messages for one DKIM domain and selector.

    Build it with :meth:`from_fields`, which checks the key before anything connects.

    :param domain: The signing domain (``d=``), ASCII; DMARC needs it aligned with the From domain.
    :param selector: The selector (``s=``): the public key is published at ``<selector>._domainkey.<domain>``.
    :param key: The private key as dkimpy parsed it.
    """

    domain: str
    selector: str
    key: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_fields(cls, domain: str, selector: str, private_key: str) -> DkimSigner:
        """A signer from the connection's fields; ``private_key`` is the PEM text (PKCS#1 or PKCS#8, pasted with or
        without its line breaks) or the path of a PEM file on the worker.

        :raises SmtpConfigError: naming ``dkim_private_key``, never showing it, if it is not an unencrypted RSA
            private key of at least 1024 bits.
        """
        from dkim import bitsize
        from dkim.crypto import parse_pem_private_key

        pem = normalized_pem(read_key(private_key))
        try:
            key = parse_pem_private_key(pem)
        except Exception:  # dkimpy raises UnparsableKeyError, and others for malformed DER
            raise SmtpConfigError(
                f"{FIELD} is not a readable RSA private key (PKCS#1 or PKCS#8 PEM); its value is not shown."
            ) from None
        bits = bitsize(key["modulus"])
        if bits < MIN_KEY_BITS:
            raise SmtpConfigError(
                f"{FIELD} is a {bits}-bit RSA key; receivers ignore DKIM keys under {MIN_KEY_BITS} bits (RFC 8301), "
                "make one of 2048."
            )
        return cls(domain, selector, key)

    def sign(self, message: WireMessage, *, timestamp: int | None = None) -> WireMessage:
        """``message`` with a ``DKIM-Signature`` header in front, signing its bytes as they are written.

        :param timestamp: The signature's ``t=`` (seconds since the epoch); default: now.
        """
        head, body_hash = split_and_hash(message)
        header = self.signature(head, body_hash, timestamp=timestamp)
        return replace(message, pieces=(header, *message.pieces), size=message.size + len(header))

    def signature(self, head: bytes, body_hash: bytes, *, timestamp: int | None = None) -> bytes:
        """The ``DKIM-Signature`` header line (CRLF-terminated) for the header block ``head`` and the body's
        relaxed-canonical SHA-256 ``body_hash``.
        """
        import dkim
        from dkim.canonicalization import CanonicalizationPolicy

        signer = dkim.DKIM(head + CRLF, signature_algorithm=ALGORITHM, linesep=CRLF)
        signer.should_sign.update(_EXTRA_SIGNED)
        include = tuple(name.lower() for name in signer.default_sign_headers())
        if b"from" not in include:  # compose always writes From; a standard library message may lack it
            raise SmtpConfigError("DKIM signing needs a From header (RFC 6376 section 5.4); the message has none.")
        signer.hasher = dkim.HASH_ALGORITHMS[ALGORITHM]
        fields = [
            (b"v", b"1"),
            (b"a", ALGORITHM),
            (b"c", CANONICALIZATION),
            (b"d", self.domain.encode("ascii")),
            (b"s", self.selector.encode("ascii")),
            (b"t", str(int(time.time()) if timestamp is None else timestamp).encode("ascii")),
            (b"h", b" : ".join(include)),
            (b"bh", base64.b64encode(body_hash)),
            (b"b", b"0" * 60),  # as dkimpy does: b= folds onto a line of its own, the rest does not move
        ]
        policy = CanonicalizationPolicy.from_c_value(CANONICALIZATION)
        value = signer.gen_header(fields, include, policy, b"DKIM-Signature", self.key)
        return b"DKIM-Signature: " + value


def split_and_hash(message: WireMessage) -> tuple[bytes, bytes]:
    """The header block of ``message`` (each field with its CRLF, without the blank line) and the SHA-256 of its
    body in relaxed canonical form, reading the message once, a chunk at a time.
    """
    head = bytearray()
    body: RelaxedBodyHash | None = None
    for chunk in message.chunks():
        if body is not None:
            body.update(chunk)
            continue
        start = max(len(head) - 3, 0)
        head += chunk
        end = head.find(b"\r\n\r\n", start)
        if end >= 0:
            body = RelaxedBodyHash()
            body.update(bytes(head[end + 4 :]))
            del head[end + 2 :]
    if body is None:  # no body at all
        return bytes(head if head.endswith(CRLF) else head + CRLF), RelaxedBodyHash().digest()
    return bytes(head), body.digest()


class RelaxedBodyHash:
    """SHA-256 of a body in relaxed canonical form (RFC 6376 section 3.4.4), fed in pieces of any size: white space
    at line ends removed, runs of it made one space, empty lines at the end ignored. The lines are canonicalized
    with dkimpy's functions; only the empty lines at the end need state across pieces.
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._partial = b""  # the start of a line whose CRLF has not come yet
        self._empty_lines = 0  # empty lines seen and not yet hashed: they count only if a non-empty line follows

    def update(self, data: bytes) -> None:
        """Add the next bytes of the body."""
        data = self._partial + data
        end = data.rfind(CRLF)
        if end < 0:
            self._partial = data
            return
        self._partial = data[end + 2 :]
        self._lines(data[: end + 2])

    def digest(self) -> bytes:
        """The hash; a last line without CRLF counts as ended (SMTP ends the body with CRLF anyway)."""
        if self._partial:
            self._lines(self._partial + CRLF)
            self._partial = b""
        return self._hash.copy().digest()

    def _lines(self, block: bytes) -> None:
        from dkim.canonicalization import compress_whitespace, strip_trailing_whitespace

        block = compress_whitespace(strip_trailing_whitespace(block))
        end, trailing = len(block), 0
        while end >= 2 and block[end - 2 : end] == CRLF and (end == 2 or block[end - 4 : end - 2] == CRLF):
            end, trailing = end - 2, trailing + 1
        if end == 0:
            self._empty_lines += trailing
            return
        self._hash.update(CRLF * self._empty_lines + block[:end])
        self._empty_lines = trailing


# -- the key -------------------------------------------------------------------------------------------------------


def read_key(private_key: str) -> bytes:
    """The key's text: ``private_key`` itself if it holds a PEM block (or bare base64), else the file it names.

    :raises SmtpConfigError: naming ``dkim_private_key`` (never its value) if it is neither.
    """
    text = private_key.strip()
    if "-----BEGIN" in text or _bare_base64(text):
        return text.encode("ascii", "replace")
    try:
        path = Path(text).expanduser()
        if len(text) < 4096 and path.is_file():
            return path.read_bytes()
    except (OSError, ValueError):
        pass
    raise SmtpConfigError(
        f"{FIELD} is neither a PEM private key nor the path of a readable key file on this worker; its value is "
        "not shown."
    )


def normalized_pem(data: bytes) -> bytes:
    """The first private key in ``data`` as a PEM block with 64-character lines, however its lines were broken
    (a key pasted into a one-line field loses them); bare base64 is taken as a PKCS#8 or PKCS#1 DER key.

    :raises SmtpConfigError: naming ``dkim_private_key`` for an encrypted or non-RSA key, or no key at all.
    """
    found = _PEM.search(data)
    if found is None and _bare_base64(data.decode("ascii", "replace").strip()):
        label, body = b"PRIVATE KEY", data
    elif found is None:
        raise SmtpConfigError(f"{FIELD} holds no PEM private key (-----BEGIN ... PRIVATE KEY-----).")
    else:
        label, body = found.group(1), found.group(2)
    if label not in _RSA_LABELS:
        shown = label.decode("ascii")
        raise SmtpConfigError(
            f"{FIELD} is a {shown!r} PEM block; DKIM signing here needs an unencrypted RSA private key ('RSA PRIVATE "
            "KEY' or 'PRIVATE KEY')."
        )
    body = re.sub(rb"\s+", b"", body)
    try:
        base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise SmtpConfigError(f"{FIELD} has a PEM block whose content is not base64; its value is not shown.") from None
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return b"-----BEGIN " + label + b"-----\n" + lines + b"\n-----END " + label + b"-----\n"


def _bare_base64(text: str) -> bool:
    compact = re.sub(r"\s+", "", text)
    return len(compact) > 100 and re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", compact) is not None
