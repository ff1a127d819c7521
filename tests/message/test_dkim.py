"""message/dkim.py: a DKIM signature over a message's exact bytes, verified by dkimpy's own verifier with a DNS
answer the test supplies; broken by one changed body byte; the streamed body hash equal to dkimpy's relaxed
canonicalization of the whole body; keys in every form a user pastes, and the ones refused in one sentence.
No Airflow; the one server test sends to the loopback server."""

from __future__ import annotations

import hashlib
import random
import re

import dkim
import pytest
from dkim.canonicalization import Relaxed
from support.dkim_keys import make_key
from support.messages import composed
from support.sessions import send

from airflow_provider_smtpconn.exceptions import SmtpConfigError
from airflow_provider_smtpconn.message.dkim import DkimSigner, RelaxedBodyHash


@pytest.fixture(scope="module")
def key():
    return make_key()


@pytest.fixture(scope="module")
def signer(key):
    return DkimSigner.from_fields("example.org", "s1", key.pkcs8)


def signature_tags(data: bytes) -> dict[str, str]:
    header = re.search(rb"^DKIM-Signature: (.*?)\r\n(?=\S)", data, re.DOTALL | re.MULTILINE)
    assert header is not None
    value = re.sub(rb"\s+", b"", header.group(1)).decode("ascii")
    return dict(tag.split("=", 1) for tag in value.split(";") if tag)


def test_a_signed_message_verifies_and_one_changed_body_byte_breaks_it(key, signer):
    message = composed(
        to="to@example.org", subject="Report \u2014 \u65e5\u672c\u8a9e", text="Hello  \t there \n\n\n",
        html="<p>Hi</p>", attachments={"data.bin": bytes(range(256)) * 300},
    )  # fmt: skip
    data = signer.sign(message).as_bytes()
    assert dkim.verify(data, dnsfunc=key.dns())
    index = data.rindex(b"Hello")
    assert not dkim.verify(data[:index] + b"J" + data[index + 1 :], dnsfunc=key.dns())


def test_the_signature_is_relaxed_rsa_sha256_and_signs_from_twice(signer):
    tags = signature_tags(signer.sign(composed(to="to@example.org", text="x"), timestamp=1700000000).as_bytes())
    assert (tags["v"], tags["a"], tags["c"], tags["d"], tags["s"], tags["t"]) == (
        "1", "rsa-sha256", "relaxed/relaxed", "example.org", "s1", "1700000000",
    )  # fmt: skip
    signed = tags["h"].split(":")
    assert signed.count("from") == 2  # From signed, and once more: no second From can be added unnoticed
    assert {"to", "subject", "date", "message-id", "mime-version", "content-type"} <= set(signed)
    assert "bcc" not in signed


def test_the_size_grows_by_the_signature_and_the_body_is_untouched(signer):
    message = composed(to="to@example.org", bcc="hidden@example.org", text="x")
    signed = signer.sign(message)
    assert signed.size == len(signed.as_bytes()) and signed.as_bytes().endswith(message.as_bytes())
    assert signed.message_id == message.message_id and signed.envelope == message.envelope
    assert b"hidden@example.org" not in signed.as_bytes()


@pytest.mark.parametrize("seed", range(5))
def test_the_streamed_body_hash_is_dkimpy_s_relaxed_canonicalization(seed):
    rng = random.Random(seed)
    for _ in range(400):
        body = bytes(rng.choice(b"ab \t\n") for _ in range(rng.randint(0, 80))).replace(b"\n", b"\r\n")
        streamed = RelaxedBodyHash()
        position = 0
        while position < len(body):
            size = rng.randint(1, 9)
            streamed.update(body[position : position + size])
            position += size
        ended = body if not body or body.endswith(b"\r\n") else body + b"\r\n"  # SMTP ends the body with CRLF
        assert streamed.digest() == hashlib.sha256(Relaxed.canonicalize_body(ended)).digest(), body


def test_a_signature_made_while_streaming_a_file_attachment_verifies(key, signer, tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(random.Random(7).randbytes(3 * 1024 * 1024))
    data = signer.sign(composed(to="to@example.org", text="x", attachments=[path])).as_bytes()
    assert dkim.verify(data, dnsfunc=key.dns())


def test_the_signature_verifies_as_the_server_received_it(smtp_server, key, signer):
    send(smtp_server, signer.sign(composed(to="to@example.org", subject="Signed", text=".leading dot\n")))
    (received,) = smtp_server.messages
    assert dkim.verify(received.data, dnsfunc=key.dns())


# -- keys ---------------------------------------------------------------------------------------------------------


def one_line(pem: str) -> str:
    """A PEM key as a one-line password field keeps it: its line breaks gone."""
    return pem.replace("\n", "")


@pytest.mark.parametrize("form", ["pkcs8", "pkcs1", "one line", "crlf", "bare base64", "path"])
def test_every_form_of_key_a_user_gives_signs(key, tmp_path, form):
    pem = key.pkcs1 if form == "pkcs1" else key.pkcs8
    given = {
        "one line": one_line(pem),
        "crlf": pem.replace("\n", "\r\n"),
        "bare base64": "".join(pem.splitlines()[1:-1]),
    }.get(form, pem)
    if form == "path":
        (tmp_path / "dkim.pem").write_text(pem)
        given = str(tmp_path / "dkim.pem")
    signer = DkimSigner.from_fields("example.org", "s1", given)
    assert dkim.verify(signer.sign(composed(to="to@example.org", text="x")).as_bytes(), dnsfunc=key.dns())


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n", "not a readable RSA private key"),
        ("-----BEGIN PRIVATE KEY-----\n!!!not base64!!!\n-----END PRIVATE KEY-----\n", "not base64"),
        ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "ENCRYPTED"),
        ("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", "needs an unencrypted RSA"),
        ("/nonexistent/dkim.pem", "neither a PEM private key nor the path"),
        ("secret-looking-value", "neither a PEM private key nor the path"),
    ],
)
def test_a_key_that_is_not_a_usable_rsa_key_is_refused_in_one_sentence_without_its_value(given, says):
    with pytest.raises(SmtpConfigError, match=says) as raised:
        DkimSigner.from_fields("example.org", "s1", given)
    text = str(raised.value)
    assert text.startswith("dkim_private_key") and text.count(". ") == 0 and text.endswith(".")
    assert "bm90IGEga2V5" not in text and "secret-looking-value" not in text


def test_a_key_under_1024_bits_is_refused():
    with pytest.raises(SmtpConfigError, match="512-bit RSA key.*RFC 8301"):
        DkimSigner.from_fields("example.org", "s1", make_key(512).pkcs8)
