"""message/encoded_words.py: a subject (or a custom text header) that is not plain ASCII arrives exactly as given,
spaces included, where the standard library's folder loses the space between two encoded words at a fold
(python/cpython#92081). Read back by the standard library's parser, as a receiver would, and sent to the loopback
server through both doors (a composed request, a standard library message handed to the session)."""

from __future__ import annotations

import random
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from support.composing import compose
from support.sessions import send, stdlib_message

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.message.encoded_words import MAX_LINE, fold_unstructured

# Long enough to fold, with a space between two non-ASCII words right where the standard library folds.
FOLDED = "Quarterly report for the operations team in the northern region \u2014 \u65e5\u672c\u8a9e \u2713"
SUBJECTS = [
    FOLDED,
    " \u2014 ".join("abcdefghijklmn"),
    "\u00dcberweisungen f\u00fcr M\u00e4rz " * 6,
    "\u65e5\u672c\u8a9e\u306e\u4ef6\u540d " * 15 + "\U0001f600",
    "two  spaces \u00fc",
    " leading and trailing \u00fc ",
    "an =?look-alike?= word, and \u00fc",
    "tab\tinside \u00fc",
    "x" * 120 + " \u00fc",
]


def parsed_header(raw: bytes, name: str = "Subject") -> str:
    return str(BytesParser(policy=policy.default).parsebytes(raw + b"\r\n")[name])


def test_the_standard_library_folder_loses_the_space_this_module_keeps():
    stdlib = EmailMessage(policy=policy.SMTP)
    stdlib["Subject"] = FOLDED
    assert parsed_header(bytes(stdlib)) != FOLDED  # the fault this module exists for (cpython#92081)
    assert parsed_header(fold_unstructured("Subject", FOLDED, "subject")) == FOLDED


@pytest.mark.parametrize("subject", SUBJECTS)
def test_a_composed_subject_reads_back_exactly_with_lines_of_at_most_78(subject):
    message = compose(subject=subject).message
    assert str(message["Subject"]) == subject
    raw = fold_unstructured("Subject", subject, "subject")
    assert all(len(line) <= MAX_LINE for line in raw.split(b"\r\n"))


def test_random_text_reads_back_exactly():
    rng = random.Random(92081)
    alphabet = 'ab c\u00fc\u2014\u65e5\U0001f600_=?\t!.,"()<>:;@\\'
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 150)))
        raw = fold_unstructured("Subject", text, "subject")
        assert parsed_header(raw) == text, raw
        assert all(len(line) <= MAX_LINE for line in raw.split(b"\r\n")), raw


def test_plain_words_stay_readable_and_only_the_rest_is_encoded():
    raw = fold_unstructured("Subject", "Report f\u00fcr M\u00e4rz done", "subject")
    assert raw.startswith(b"Subject: Report =?utf-8?") and raw.endswith(b"?= done\r\n") and raw.count(b"=?utf-8?") == 1


def test_a_custom_text_header_reads_back_exactly():
    message = compose(headers={"X-Report": FOLDED}).message
    assert str(message["X-Report"]) == FOLDED


def test_a_lone_surrogate_is_refused_naming_the_field():
    with pytest.raises(InvalidMessageError, match="subject .* not valid Unicode"):
        compose(subject="caf\udce9 \u00fc")


@pytest.mark.parametrize("door", ["composed", "standard library message"])
def test_the_subject_arrives_exactly_at_the_server(smtp_server, door):
    if door == "composed":
        from support.messages import composed

        send(smtp_server, composed(to="to@example.org", subject=FOLDED, text="x"))
    else:
        msg = stdlib_message(subject=FOLDED)
        msg.replace_header("Subject", FOLDED)
        send(smtp_server, msg)
    (received,) = smtp_server.messages
    independent = BytesParser(policy=policy.default).parsebytes(received.data)
    assert str(independent["Subject"]) == FOLDED
