"""message/unsubscribe.py: ``list_unsubscribe`` as ``List-Unsubscribe`` (RFC 2369) and, with an https URL,
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), read back by the standard library's parser; anything
but one https URL and mailto: URIs refused in one sentence naming the parameter. No Airflow; one send to the
loopback server."""

from __future__ import annotations

import pytest
from support.composing import compose
from support.messages import composed
from support.sessions import send

from airflow_provider_smtpconn.exceptions import HeaderInjectionError, InvalidMessageError

HTTPS = "https://example.org/unsubscribe?list=weekly&id=7f3a"
MAILTO = "mailto:unsubscribe@example.org?subject=unsubscribe"


def test_an_https_url_and_a_mailto_give_both_headers():
    message = compose(list_unsubscribe=[HTTPS, MAILTO]).message
    assert message["List-Unsubscribe"] == f"<{HTTPS}>, <{MAILTO}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_mailto_alone_gives_no_one_click_header():
    message = compose(list_unsubscribe=MAILTO).message
    assert message["List-Unsubscribe"] == f"<{MAILTO}>"
    assert "List-Unsubscribe-Post" not in message


@pytest.mark.parametrize("empty", [None, "", []])
def test_no_value_gives_no_header(empty):
    message = compose(list_unsubscribe=empty).message
    assert "List-Unsubscribe" not in message and "List-Unsubscribe-Post" not in message


def test_a_list_rendered_to_text_is_read_back():
    message = compose(list_unsubscribe=f"['{HTTPS}', '{MAILTO}']").message
    assert message["List-Unsubscribe"] == f"<{HTTPS}>, <{MAILTO}>"


def test_a_long_url_folds_between_the_uris_and_reads_back_whole():
    long_url = "https://example.org/unsubscribe?token=" + "a" * 120
    message = compose(list_unsubscribe=[long_url, MAILTO]).message
    assert message["List-Unsubscribe"] == f"<{long_url}>, <{MAILTO}>"


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("http://example.org/u", "not an https:// URL or a mailto: address"),
        ("https:///no-host", "not an https:// URL or a mailto: address"),
        ("mailto:nobody", "not an https:// URL or a mailto: address"),
        ("ftp://example.org/u", "not an https:// URL or a mailto: address"),
        ("https://example.org/a b", "percent-encode"),
        ("https://example.org/\u00fc", "percent-encode"),
        ("https://example.org/<x>", "percent-encode"),
        (["https://example.org/a", "https://example.org/b"], "2 https URLs; RFC 8058 allows one"),
        (42, "is not a URL"),
    ],
)
def test_what_is_not_one_https_url_or_mailto_is_refused_naming_the_parameter(given, says):
    with pytest.raises(InvalidMessageError, match=says) as raised:
        compose(list_unsubscribe=given)
    assert str(raised.value).startswith("list_unsubscribe")


def test_an_encoded_line_break_is_refused_by_the_header_guard():
    with pytest.raises(HeaderInjectionError, match="list_unsubscribe"):
        compose(list_unsubscribe="https://example.org/u?x=1=?utf-8?q?=0D=0A?=Bcc:leak@example.net")


@pytest.mark.parametrize("name", ["List-Unsubscribe", "list-unsubscribe-post"])
def test_the_headers_are_the_parameter_s_not_the_headers_parameter_s(name):
    with pytest.raises(InvalidMessageError, match="use its parameter list_unsubscribe"):
        compose(headers={name: f"<{HTTPS}>"})


def test_the_headers_arrive_at_the_server(smtp_server):
    send(smtp_server, composed(to="to@example.org", text="x", list_unsubscribe=[HTTPS, MAILTO]))
    (received,) = smtp_server.messages
    assert received.message["List-Unsubscribe"] == f"<{HTTPS}>, <{MAILTO}>"
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
