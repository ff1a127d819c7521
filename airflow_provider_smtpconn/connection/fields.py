"""Every field of an ``smtpconn`` connection, declared once.

Each :class:`ConnectionField` says its extra key, the label and description the connection form shows, its
form widget (a JSON schema), its default, and how a raw value (typed JSON or text from the UI) is parsed and
checked. The hook's settings (``smtp/settings.settings_from_extras``), the form (``connection/form.py``) and the
README's connection table (:func:`readme_table`) are all derived from :data:`FIELDS`; a test fails when the
README and the declaration disagree. Nothing here imports Airflow: provider discovery reads it.
"""

from __future__ import annotations

from airflow_provider_smtpconn.connection.declaration import ConnectionField, nullable
from airflow_provider_smtpconn.connection.oauth2_fields import OAUTH2_GROUP
from airflow_provider_smtpconn.connection.parsers import (
    choice,
    domain_name,
    flag,
    long_text,
    number,
    secret,
    text,
)

TLS_MODES = ("starttls", "implicit", "none")
AUTH_TYPES = ("basic", "xoauth2")
#: ``auto`` picks the first of PLAIN, LOGIN, CRAM-MD5 that the server offers (see ``auth.py``).
AUTH_MECHANISMS = ("auto", "PLAIN", "LOGIN", "CRAM-MD5")
DEFAULT_PORTS = {"starttls": 587, "implicit": 465, "none": 25}
#: ``auto`` pipelines (RFC 2920) when the server offers PIPELINING; ``off`` sends one command at a time.
PIPELINING_MODES = ("auto", "off")


FIELDS: tuple[ConnectionField, ...] = (
    ConnectionField(
        "from_email",
        "Default sender",
        "The sender when a task gives none; 'Name <address>' is allowed. Empty: the Username, if it is an address.",
        nullable("string"),
        text,
    ),
    ConnectionField(
        "tls_mode",
        "TLS mode",
        "Automatic: implicit TLS on port 465, STARTTLS on any other port. STARTTLS upgrades a plain connection "
        "(port 587); implicit TLS speaks TLS from the first byte (port 465); none sends in plain text.",
        nullable(
            "string",
            enum=["auto", *TLS_MODES],
            values_display={
                "auto": "Automatic (by port)",
                "starttls": "STARTTLS (port 587)",
                "implicit": "Implicit TLS (port 465)",
                "none": "None (plain text)",
            },
        ),
        choice(TLS_MODES, auto="auto"),
        default="auto",
        setting="tls_mode",
    ),
    ConnectionField(
        "auth_type",
        "Authentication",
        "basic: the Password with the AUTH mechanism below. xoauth2: an OAuth2 access token, in OAuth2 access "
        "token or the Password (Google Workspace, Microsoft 365).",
        nullable("string", enum=list(AUTH_TYPES), values_display={"basic": "Password", "xoauth2": "OAuth2 (XOAUTH2)"}),
        choice(AUTH_TYPES),
        default="basic",
        setting="auth_type",
    ),
    ConnectionField(
        "auth_mechanism",
        "AUTH mechanism",
        "For Authentication basic. Automatic: the first of PLAIN, LOGIN, CRAM-MD5 the server offers; choose one "
        "if the server offers a mechanism it cannot verify. One attempt per connection.",
        nullable("string", enum=list(AUTH_MECHANISMS), values_display={"auto": "Automatic"}),
        choice(AUTH_MECHANISMS[1:], auto="auto"),
        default="auto",
        setting="auth_mechanism",
    ),
    ConnectionField(
        "access_token",
        "OAuth2 access token",
        "For Authentication xoauth2, if not given as the Password. Shown as a password field and redacted.",
        nullable("string", format="password"),
        long_text,
    ),
    # OAuth2 token sources: tokens fetched and renewed instead of pasted (oauth/ reads these fields).
    *OAUTH2_GROUP,
    # What mailbox providers check: where Message-IDs point, and the DKIM signature (message/dkim.py).
    ConnectionField(
        "message_id_domain",
        "Message-ID domain",
        "The right-hand side of every Message-ID sent through this connection. Empty: the sender's domain (never "
        "this machine's name, which spam filters count against a message).",
        nullable("string"),
        domain_name,
    ),
    ConnectionField(
        "dkim_domain",
        "DKIM domain",
        "Sign every message with DKIM (RFC 6376) for this domain (d=), with the selector and key below. DMARC "
        "passes when it is the From address's domain or a parent of it.",
        nullable("string"),
        domain_name,
        group="dkim",
    ),
    ConnectionField(
        "dkim_selector",
        "DKIM selector",
        "The selector (s=): the public key is published in DNS as a TXT record at <selector>._domainkey.<DKIM domain>.",
        nullable("string"),
        domain_name,
        group="dkim",
    ),
    ConnectionField(
        "dkim_private_key",
        "DKIM private key",
        "The RSA private key (PEM, PKCS#1 or PKCS#8; 2048 bits advised), pasted, or its path on the workers. Redacted.",
        nullable("string", format="password"),
        secret,
        group="dkim",
    ),
    ConnectionField(
        "ca_bundle",
        "Private CA bundle",
        "A path to a PEM file, or the PEM text, of a private CA to trust besides the system store.",
        nullable("string", format="multiline"),
        long_text,
        setting="ca_bundle",
    ),
    ConnectionField(
        "timeout",
        "Timeout (seconds)",
        "Bounds the connect, the greeting, the TLS handshake and each SMTP command; above 0, at most 3600.",
        nullable("number", minimum=1),
        number(minimum=0, inclusive=False, maximum=3600),
        default=30.0,
        setting="timeout",
    ),
    ConnectionField(
        "retry_limit",
        "Retries",
        "Retries of transient failures (connection lost, 4xx replies) before the body is sent. A message whose "
        "body was sent is never resent. At most 100.",
        nullable("integer", minimum=0),
        number(minimum=0, integer=True, maximum=100),
        default=3,
        setting="retry_limit",
    ),
    ConnectionField(
        "retry_wait",
        "First retry wait (seconds)",
        "The wait before the first retry (at most 3600); it doubles on each further retry, up to 30 seconds.",
        nullable("number", minimum=0),
        number(minimum=0, maximum=3600),
        default=1.0,
        setting="retry_wait",
    ),
    ConnectionField(
        "pipelining",
        "Pipelining",
        "Automatic: when the server offers PIPELINING (RFC 2920), a message's MAIL, RCPT and DATA go in one write, "
        "and the next message's with the previous one's final dot. Off: one command at a time, for a server that "
        "offers it but misbehaves.",
        nullable(
            "string",
            enum=list(PIPELINING_MODES),
            values_display={"auto": "Automatic (when offered)", "off": "Off (one command at a time)"},
        ),
        choice(PIPELINING_MODES[1:], auto="auto"),
        default="auto",
        setting="pipelining",
    ),
    ConnectionField(
        "max_recipients_per_message",
        "Most recipients per message",
        "Send a message's recipients in transactions of at most this many, one after the other on the same "
        "connection (Google Workspace takes 100, Amazon SES 50, Microsoft 365 500). Empty: all at once, and the "
        "rest in further transactions where the server answers 452 (too many recipients).",
        nullable("integer", minimum=1),
        number(minimum=1, integer=True, maximum=100_000),
        setting="max_recipients_per_message",
    ),
    ConnectionField(
        "max_attachment_mb",
        "Largest attachment (MB)",
        "The largest single attachment a task may send through this connection, in MiB (at most 1024).",
        nullable("number", minimum=0),
        number(minimum=1 / 1024, maximum=1024),
        default=10.0,
    ),
    ConnectionField(
        "local_hostname",
        "EHLO name",
        "The name this client gives in EHLO. Empty: this machine's fully qualified name.",
        nullable("string"),
        text,
        setting="local_hostname",
    ),
    ConnectionField(
        "ignore_self_signed",
        "Accept self-signed certificates",
        "Weakens security: keeps encryption but skips the certificate chain and host name checks. Prefer a "
        "Private CA bundle.",
        nullable("boolean"),
        flag,
        default=False,
        setting="ignore_self_signed",
    ),
    ConnectionField(
        "allow_plaintext_auth",
        "Allow password without TLS",
        "Weakens security: with TLS mode none, send the Username and Password to a host other than localhost. "
        "Only for a trusted relay.",
        nullable("boolean"),
        flag,
        default=False,
        setting="allow_plaintext_auth",
    ),
)
FIELDS_BY_KEY: dict[str, ConnectionField] = {f.key: f for f in FIELDS}
#: The fields of an OAuth2 token source, ``oauth2_provider`` first.
OAUTH2_FIELDS: tuple[ConnectionField, ...] = tuple(f for f in FIELDS if f.group == "oauth2")
#: The fields of DKIM signing: all three, or none.
DKIM_FIELDS: tuple[ConnectionField, ...] = tuple(f for f in FIELDS if f.group == "dkim")


def readme_table() -> str:
    """The rows of the README's connection table for the extra fields, in form order (Markdown)."""
    return "\n".join(f"| {f.label} | `{f.key}` | {f.description} |" for f in FIELDS)
