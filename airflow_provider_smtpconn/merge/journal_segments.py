"""One stored value of the task state store's journal (a segment): a batch of journal events as compact JSON.

A segment holds each row once, with its latest event (those of :mod:`.journal`) from one try::

    {"format": 1, "try": 2, "domain": "example.org",
     "events": {"accepted": [[0, 41], 43], "intent": [[44, 93]], "refused": ["C-17"]},
     "named": [44], "message_ids": {"C-17": "<...@other.example>"}, "details": {"C-17": "refused ..."}}

Row keys that are whole numbers in decimal are numbers, and runs of them ``[first, last]``; other keys are text.
A row's Message-ID is the one ``message_ids`` gives, else the one derived from the task instance and the row key
at ``domain`` (``compose.make_message_id``); but a row with an ``intent`` (or ``withdrawn``) has one only if
``message_ids`` or ``named`` lists it: the rows of a batch are named before their messages are made.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_smtpconn.merge.journal import EVENTS, INTENT, WITHDRAWN
from airflow_provider_smtpconn.message.compose import make_message_id

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

FORMAT = 1
#: ``(event, message_id, detail)``: ``message_id`` ``None`` when not known (a row named in advance, or withdrawn),
#: ``""`` when it is the one derived from the row.
Entry = tuple[str, str | None, str]
#: Events whose rows may have no Message-ID yet.
_UNNAMED = (INTENT, WITHDRAWN)
#: What a segment costs besides its rows (the format, the try, the domain, the field names).
OVERHEAD = 200


def segment_value(entries: dict[str, Entry], try_number: int, domain: str | None) -> dict[str, Any]:
    """The JSON value of a segment holding ``entries`` (row key -> :data:`Entry`) of try ``try_number``."""
    by_event: dict[str, list[str]] = {}
    named: list[str] = []
    message_ids: dict[str, str] = {}
    details: dict[str, str] = {}
    for key, (event, message_id, detail) in entries.items():
        by_event.setdefault(event, []).append(key)
        if message_id:
            message_ids[key] = message_id
        elif message_id is not None and event in _UNNAMED:
            named.append(key)
        if detail:
            details[key] = detail
    value: dict[str, Any] = {
        "format": FORMAT,
        "try": try_number,
        "events": {event: key_runs(keys) for event, keys in by_event.items()},
    }
    if domain is not None:
        value["domain"] = domain
    for name, part in (("named", key_runs(named)), ("message_ids", message_ids), ("details", details)):
        if part:
            value[name] = part
    return value


def read_segment(value: Any, identity: tuple[Any, ...] = ()) -> Iterator[tuple[str, str, str, int, str]]:
    """The events of one stored segment: ``(event, row_key, message_id, try_number, detail)``, ready for
    :func:`.journal.apply_event` (each row once per segment, so their order within it does not matter).

    :param identity: What Message-IDs are derived from besides the row key (without it, derived ones read ``""``).
    :raises ValueError: (or ``TypeError``, ``KeyError``, ``AttributeError``) if ``value`` is not a segment.
    """
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise ValueError(f"format {value.get('format') if isinstance(value, dict) else type(value).__name__!r}")
    try_number, domain = int(value["try"]), value.get("domain")
    message_ids, details = value.get("message_ids", {}), value.get("details", {})
    named = set(keys_of(value.get("named", [])))
    for event, runs in value["events"].items():
        if event not in EVENTS:
            raise ValueError(f"event {event!r}")
        for key in keys_of(runs):
            if key in message_ids:
                message_id = str(message_ids[key])
            elif (event in _UNNAMED and key not in named) or not domain or not identity:
                message_id = ""
            else:
                message_id = make_message_id(str(domain), *identity, key)
            yield event, key, message_id, try_number, str(details.get(key, ""))


def key_runs(keys: Iterable[str]) -> list[Any]:
    """Row keys, in order, as JSON: a key that is a whole number in decimal (``"42"``) as a number, a run of
    consecutive ones as ``[first, last]``, any other key as text. :func:`keys_of` reads it back.
    """
    runs: list[Any] = []
    for key in keys:
        number = _whole(key)
        if number is not None and runs:
            last = runs[-1]
            if type(last) is int and last + 1 == number:
                runs[-1] = [last, number]
                continue
            if type(last) is list and last[1] + 1 == number:
                last[1] = number
                continue
        runs.append(key if number is None else number)
    return runs


def keys_of(runs: Iterable[Any]) -> Iterator[str]:
    """The row keys written by :func:`key_runs`; raises ``ValueError`` for anything else."""
    for item in runs:
        if type(item) is str:
            yield item
        elif type(item) is int and item >= 0:
            yield str(item)
        elif type(item) is list and len(item) == 2 and all(type(n) is int for n in item) and 0 <= item[0] <= item[1]:
            yield from map(str, range(item[0], item[1] + 1))
        else:
            raise ValueError(f"row key {item!r}")


def value_size(value: Any) -> int:
    """A value's size as Airflow measures it against ``max_value_storage_bytes`` (``len(json.dumps(value))``)."""
    return len(json.dumps(value))


def entry_cost(key: str, entry: Entry) -> int:
    """At most what one row adds to a segment's :func:`value_size` (a key as text costs at least what it costs
    in a run of numbers).
    """
    quoted = len(json.dumps(key)) + 2
    event, message_id, detail = entry
    cost = quoted + (quoted if message_id == "" and event in _UNNAMED else 0)
    if message_id:
        cost += quoted + len(json.dumps(message_id)) + 2
    if detail:
        cost += quoted + len(json.dumps(detail)) + 2
    return cost


def _whole(key: str) -> int | None:
    # Only the canonical form, so that str(int(key)) gives the key back ("007" and "+7" stay text).
    if key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and len(key) <= 15:
        return int(key)
    return None
