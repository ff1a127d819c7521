"""message/compose.py on its own: a request becomes its wire form with exactly the intended headers, bodies and
parts, an envelope listing every recipient once, and a Message-ID stable for one identity.

No Airflow, no server: every message is composed to its wire bytes and read back with the standard library's
parser, so the assertions are on what a receiver would see.
"""

from __future__ import annotations

import re
from email.headerregistry import Address

import pytest
from support.composing import BASE_HEADERS, DATE, compose, read_back

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.message.compose import make_message_id


def test_composed_message_has_exactly_the_intended_headers() -> None:
    composed = compose(
        to="Jane <jane@example.org>",
        cc="cc@example.org",
        bcc="hidden@example.org",
        reply_to="replies@example.org",
        subject="Weekly report",
        importance="High",
        headers={"X-Ticket": "T-1", "X-Count": 3},
        text="hello",
    )
    parsed = read_back(composed.message)
    extra = ["Cc", "Reply-To", "Importance", "X-Priority", "X-Ticket", "X-Count"]
    assert sorted(parsed.keys()) == sorted([*BASE_HEADERS, *extra])  # Bcc never goes on the wire
    assert parsed["From"].addresses[0] == Address("Sender", addr_spec="sender@example.org")
    assert str(parsed["To"]) == "Jane <jane@example.org>"
    assert (parsed["Subject"], parsed["X-Ticket"], parsed["X-Count"]) == ("Weekly report", "T-1", "3")
    assert (parsed["Importance"], parsed["X-Priority"]) == ("high", "1 (Highest)")
    assert parsed["Date"].datetime == DATE
    assert parsed.get_content().rstrip("\r\n") == "hello"


def test_envelope_lists_every_recipient_once_including_bcc() -> None:
    composed = compose(to="a@example.org; A@example.org", cc=["b@example.org", None], bcc="c@example.org")
    assert composed.envelope.sender == "sender@example.org"
    assert composed.envelope.recipients == ["a@example.org", "b@example.org", "c@example.org"]
    assert compose(sender="s@example.org", to="a@example.org").message["To"] == "a@example.org"


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"to": None}, "No recipient"),
        ({"sender": "a@example.org, b@example.org"}, "exactly one address"),
        ({"importance": "urgent"}, "importance 'urgent'"),
        ({"subject": 42}, "subject 42 is not text"),
        ({"text": b"bytes"}, "text must be text"),
    ],
)
def test_invalid_field_is_refused_naming_it(fields: dict[str, object], match: str) -> None:
    spec = {"sender": "s@example.org", "to": "to@example.org", **fields}
    with pytest.raises(InvalidMessageError, match=match):
        compose(**spec)  # type: ignore[arg-type]


def test_text_and_html_become_alternatives_and_non_ascii_survives() -> None:
    parsed = read_back(compose(text="Caf\u00e9 \u2615", html="<p>Caf\u00e9</p>").message)
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.iter_parts()
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_content().rstrip("\r\n") == "Caf\u00e9 \u2615"
    assert html.get_content().rstrip("\r\n") == "<p>Caf\u00e9</p>"


def test_inline_image_is_related_to_html_and_others_are_attached() -> None:
    attachments = [
        {"filename": "logo.png", "content": b"\x89PNG", "content_id": "logo"},
        {"filename": "a.txt", "content": "x"},
    ]
    parsed = read_back(compose(text="t", html='<img src="cid:logo">', attachments=attachments).message)
    assert parsed.get_content_type() == "multipart/mixed"
    body, attached = parsed.iter_parts()
    related = body.get_payload()[1]
    assert related.get_content_type() == "multipart/related"
    logo = related.get_payload()[1]
    assert (logo["Content-ID"], logo.get_content_disposition(), logo.get_content()) == ("<logo>", "inline", b"\x89PNG")
    assert (attached.get_filename(), attached.get_content()) == ("a.txt", "x")


def test_message_id_is_stable_for_one_identity_and_random_without() -> None:
    stable = make_message_id("example.org", "dag", "task", "run", 1)
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.org>", stable)
    assert stable == make_message_id("example.org", "dag", "task", "run", 1)
    assert stable != make_message_id("example.org", "dag", "task", "run", 2)
    assert make_message_id("example.org") != make_message_id("example.org")
    first, second = (compose(identity=("d", "t", "r")).message["Message-ID"] for _ in range(2))
    assert first == second == make_message_id("example.org", "d", "t", "r")


@pytest.mark.parametrize(("sender", "configured"), [("a@localhost", None), ("a@example.org", "localhost"),
                                                     ("a@example.org", "mail.localhost")])  # fmt: skip
def test_a_message_id_is_never_at_localhost(sender: str, configured: str | None) -> None:
    from airflow_provider_smtpconn.message.compose import id_domain

    with pytest.raises(InvalidMessageError, match="message_id_domain"):
        id_domain(sender, configured)
