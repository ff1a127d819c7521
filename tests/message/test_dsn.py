"""message/dsn.py: the ``dsn`` parameter checked before anything connects, and the MAIL and RCPT parameters it
becomes (RFC 3461): NOTIFY, RET, ENVID in xtext. No server."""

from __future__ import annotations

import pytest
from support.composing import compose

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.message.dsn import DsnRequest, parse_dsn, xtext


def test_a_full_request_becomes_its_parameters():
    dsn = parse_dsn({"notify": ["failure", "delay"], "ret": "headers", "envid": "invoice 117+x"})
    assert dsn == DsnRequest(("FAILURE", "DELAY"), "HDRS", "invoice 117+x")
    assert dsn.mail_options() == ["RET=HDRS", "ENVID=invoice+20117+2Bx"]
    assert dsn.rcpt_options() == ["NOTIFY=FAILURE,DELAY"]


@pytest.mark.parametrize(
    ("given", "notify"),
    [("success", ("SUCCESS",)), ("Failure, delay", ("FAILURE", "DELAY")), (["never"], ("NEVER",)), (None, ())],
)
def test_notify_takes_one_value_a_list_or_commas(given, notify):
    assert parse_dsn({"notify": given}).notify == notify


@pytest.mark.parametrize("empty", [None, "", {}])
def test_no_dsn_is_none(empty):
    assert parse_dsn(empty) is None


def test_a_mapping_rendered_to_text_is_read_back():
    assert parse_dsn("{'notify': 'failure', 'ret': 'full'}") == DsnRequest(("FAILURE",), "FULL")


def test_xtext_encodes_plus_equals_space_and_non_ascii():
    assert xtext("a+b=c d\u00fc") == "a+2Bb+3Dc+20d+C3+BC"


def test_a_long_row_key_becomes_a_hash_within_100_characters():
    dsn = DsnRequest().with_envid("k" * 150)
    assert dsn.envid is not None and dsn.envid.startswith("sha256:") and len(xtext(dsn.envid)) <= 100
    assert DsnRequest().with_envid("row-7").envid == "row-7"


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"notify": "bounce"}, "dsn notify has 'bounce', which is not one of success, failure, delay, never"),
        ({"notify": ["never", "failure"]}, "'never' stands alone"),
        ({"notify": 3}, "dsn notify 3 is not one of"),
        ({"ret": "body"}, "dsn ret 'body' is not 'full' or 'headers'"),
        ({"envid": "x" * 101}, "at most 100 characters"),
        ({"envid": "a\nb"}, "is not printable ASCII"),
        ({"envid": "\u00e9"}, "is not printable ASCII"),
        ({"notifiy": "failure"}, "dsn has notifiy; it takes notify, ret and envid"),
        (["failure"], "is not a mapping"),
    ],
)
def test_a_bad_dsn_is_refused_in_one_sentence_naming_it(given, says):
    with pytest.raises(InvalidMessageError, match=says) as raised:
        compose(dsn=given)
    assert str(raised.value).startswith("dsn")
