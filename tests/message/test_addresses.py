"""message/addresses.py on its own: address lists are split outside quotes, de-duplicated, and every invalid address
is named in one error; internationalised addresses ask for SMTPUTF8. No Airflow, no server."""

from __future__ import annotations

import re
from email.headerregistry import Address

import pytest
from support.composing import compose

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.message.addresses import parse_addresses


def test_parse_addresses_splits_outside_quotes_and_drops_duplicates_and_blanks() -> None:
    found = parse_addresses('"Doe, Jane" <jane@example.org>; bob@example.org, , BOB@example.org', "to")
    assert found == [Address("Doe, Jane", addr_spec="jane@example.org"), Address(addr_spec="bob@example.org")]
    assert parse_addresses(["a@example.org; b@example.org", None], "cc") == [
        Address(addr_spec="a@example.org"),
        Address(addr_spec="b@example.org"),
    ]
    assert parse_addresses(None, "bcc") == []


def test_parse_addresses_names_every_invalid_address_in_one_error() -> None:
    with pytest.raises(InvalidMessageError, match=re.escape("cc has invalid addresses: ['a@', 'x@y']")):
        parse_addresses("a@, ok@example.org, x@y", "cc")
    with pytest.raises(InvalidMessageError, match="cc has 3, which is not an address"):
        parse_addresses(["a@example.org", 3], "cc")
    with pytest.raises(InvalidMessageError, match="is not an address, a list of addresses, or text"):
        parse_addresses(5, "cc")


def test_localhost_and_non_ascii_local_part_are_addresses_that_need_smtputf8() -> None:
    composed = compose(to="j\u00fcrgen@example.org, root@localhost")
    assert composed.envelope.recipients == ["j\u00fcrgen@example.org", "root@localhost"]
    assert composed.envelope.needs_smtputf8
