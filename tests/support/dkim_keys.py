"""RSA keys made for a test run (never stored) and the DNS answer a DKIM verifier gets for them, handed to dkimpy's
verifier as ``dnsfunc`` so no test asks a real resolver."""

from __future__ import annotations

import base64
import math
import random
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class DkimKey:
    """A private key as PKCS#8 and PKCS#1 PEM text, and its public key as a DKIM TXT record's ``p=``."""

    pkcs8: str
    pkcs1: str
    public: str

    def dns(self, selector: str = "s1", domain: str = "example.org") -> Any:
        """A ``dnsfunc`` for dkimpy that answers ``<selector>._domainkey.<domain>`` with this key, and nothing else."""
        record = f"v=DKIM1; k=rsa; p={self.public}".encode("ascii")

        def lookup(name: bytes | str, timeout: float = 5) -> bytes | None:
            wanted = f"{selector}._domainkey.{domain}."
            given = name.decode("ascii") if isinstance(name, bytes) else name
            return record if given == wanted else None

        return lookup


def make_key(bits: int = 2048) -> DkimKey:
    """A new RSA key of ``bits`` bits (under 1024, which ``cryptography`` will not generate, from primes made here)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits) if bits >= 1024 else _small_key(bits)
    none = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    pkcs8 = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, none).decode("ascii")
    pkcs1 = key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, none).decode("ascii")
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return DkimKey(pkcs8, pkcs1, base64.b64encode(der).decode("ascii"))


def _small_key(bits: int) -> rsa.RSAPrivateKey:
    rng = random.Random(bits)
    e = 65537
    while True:
        p, q = _prime(bits // 2, rng), _prime(bits // 2, rng)
        phi = (p - 1) * (q - 1)
        if p != q and math.gcd(e, phi) == 1:
            break
    d = pow(e, -1, phi)
    public = rsa.RSAPublicNumbers(e, p * q)
    return rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), public).private_key()


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (1 << (bits - 1)) | 1
        if all(pow(rng.randrange(2, candidate - 1), candidate - 1, candidate) == 1 for _ in range(20)):
            return candidate  # a Fermat probable prime: enough for a key that must be refused
