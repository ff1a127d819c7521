"""The ``smtpconn`` command: argument parsing, ``check`` and ``send-test``; the sink itself is ``sink.py``.

``smtpconn sink``       a loopback SMTP server that accepts every message and stores it in a Maildir.
``smtpconn check``      the hook's ``test_connection()`` for an ``smtpconn`` connection (sends no mail).
``smtpconn send-test``  one short test email through a connection (Airflow itself cannot send one).
``smtpconn convert-connection``  an official ``smtp`` connection printed as the equivalent ``smtpconn`` one.

Airflow and aiosmtpd are imported inside the subcommands, so ``smtpconn --help`` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8025
DEFAULT_MAILDIR = "smtpconn-maildir"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


# -- arguments --------------------------------------------------------------------------------------


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number from 0 to 65535")
    return port


def _credentials(text: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise argparse.ArgumentTypeError(f"{text!r} is not USER:PASS")
    return user, password


def _add_sink_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sink = sub.add_parser(
        "sink",
        help="run a local SMTP server that accepts and stores every message",
        description="Run an SMTP server that accepts every message, stores it in a Maildir and prints one line "
        "per message (from, recipients, subject, attachments, size). It binds only to the address given. "
        "Stop it with Ctrl-C or SIGTERM.",
    )
    sink.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default: %(default)s, loopback only)")
    sink.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help="port to listen on; 0 picks a free one (default: %(default)s)"
    )
    sink.add_argument(
        "--maildir", default=DEFAULT_MAILDIR, help="Maildir to store messages in, created if missing "
        "(default: ./%(default)s)"
    )  # fmt: skip
    sink.add_argument("--tls-cert", metavar="CERT", help="PEM certificate (chain): offer STARTTLS with it")
    sink.add_argument("--tls-key", metavar="KEY", help="PEM private key of --tls-cert")
    sink.add_argument(
        "--implicit-tls", action="store_true", help="with --tls-cert/--tls-key: TLS from the first byte (like 465)"
    )
    sink.add_argument(
        "--auth",
        metavar="USER:PASS",
        type=_credentials,
        help="require AUTH with these credentials (default: no AUTH needed, any credentials accepted)",
    )
    sink.add_argument("--quiet", action="store_true", help="print nothing per message")
    sink.set_defaults(handler=_sink, parser=sink)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``smtpconn`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="smtpconn",
        description="A local SMTP sink, and tools to check an Airflow 'smtpconn' connection or send a test email.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _add_sink_parser(sub)

    check = sub.add_parser(
        "check",
        help="test an smtpconn connection: connect, TLS, EHLO, AUTH, NOOP (sends no mail)",
        description="Run the hook's test_connection() for an Airflow connection of type smtpconn and print what "
        "it reached. Exit code 0 if it worked, 1 if not.",
    )
    check.add_argument("conn_id", metavar="CONN_ID", help="the Airflow connection id, e.g. smtpconn_default")
    check.set_defaults(handler=_check, parser=check)

    send = sub.add_parser(
        "send-test",
        help="send a short test email through an smtpconn connection",
        description="Send a short test email through an Airflow connection of type smtpconn and print the "
        "Message-ID and the accepted and refused recipients. Exit code 0 if every recipient was accepted.",
    )
    send.add_argument("conn_id", metavar="CONN_ID", help="the Airflow connection id, e.g. smtpconn_default")
    send.add_argument("--to", required=True, action="append", metavar="ADDR", help="recipient (repeatable)")
    send.add_argument("--from", dest="from_email", metavar="ADDR", help="sender (default: the connection's)")
    send.add_argument("--subject", default="smtpconn test email", help="subject (default: %(default)r)")
    send.set_defaults(handler=_send_test, parser=send)

    convert = sub.add_parser(
        "convert-connection",
        help="print an smtp connection (apache-airflow-providers-smtp) as the equivalent smtpconn connection",
        description="Read an Airflow connection of type smtp and print the equivalent smtpconn connection as an "
        "AIRFLOW_CONN_<ID> line and as an airflow connections add command, then one line per setting that is not "
        "carried over. Secrets are shown as *** unless --show-secrets. Exit code 2 if the connection is missing "
        "or not of type smtp.",
    )
    convert.add_argument("conn_id", metavar="CONN_ID", help="the smtp connection's id, e.g. smtp_default")
    convert.add_argument("--new-conn-id", metavar="ID", help="the new connection's id (default: CONN_ID)")
    convert.add_argument("--show-secrets", action="store_true", help="print the password and OAuth2 secrets")
    convert.set_defaults(handler=_convert_connection, parser=convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``smtpconn`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args, args.parser)


# -- check ------------------------------------------------------------------------------------------


def _hook(conn_id: str) -> Any:
    """The hook of ``conn_id``, its connection read as ``airflow connections get`` reads it (environment, secrets
    backends, the metadata DB): from a shell, the hook's own route (the Task SDK) would miss the DB on Airflow 3.1+.
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook

    hook = SmtpConnHook(smtp_conn_id=conn_id)
    with contextlib.suppress(AirflowNotFoundException):  # if missing, the hook's own lookup says so
        hook.use_connection(Connection.get_connection_from_secrets(conn_id))
    return hook


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    ok, text = _hook(args.conn_id).test_connection()
    if ok:
        print(f"OK: {text}")
        return EXIT_OK
    print(f"FAILED: {text}", file=sys.stderr)
    return EXIT_FAILED


# -- send-test --------------------------------------------------------------------------------------


def _send_test(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import socket
    from datetime import datetime, timezone

    from airflow_provider_smtpconn.exceptions import InvalidMessageError
    from airflow_provider_smtpconn.message.addresses import parse_addresses
    from airflow_provider_smtpconn.sending import EmailRequest, send_email

    try:
        recipients = parse_addresses(args.to, "--to")
        if args.from_email:
            parse_addresses(args.from_email, "--from")
    except InvalidMessageError as exc:
        parser.error(str(exc))
    hook = _hook(args.conn_id)
    now = datetime.now(timezone.utc)
    request = EmailRequest(
        to=[str(r) for r in recipients],
        from_email=args.from_email,
        subject=args.subject,
        text=(
            f"This is a test email sent by `smtpconn send-test` through the Airflow connection "
            f"{args.conn_id!r} from {socket.gethostname()} at {now:%Y-%m-%d %H:%M:%S} UTC.\n\n"
            "If you can read this, the connection can send mail.\n"
        ),
        on_refused="warn",
    )
    try:
        if not (args.from_email or hook.from_email):
            print(
                f"FAILED: connection {args.conn_id!r} has no from_email and its login is not an address; give --from.",
                file=sys.stderr,
            )
            return EXIT_FAILED
        result = send_email(request, hook)
    except Exception as exc:
        print(f"FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Message-ID: {result.message_id}")
    print(f"Accepted:   {', '.join(result.accepted) or '(none)'}")
    refused = "; ".join(f"{addr} ({code} {text})" for addr, (code, text) in result.refused.items())
    print(f"Refused:    {refused or '(none)'}")
    print(f"Size:       {result.size_bytes} bytes")
    return EXIT_FAILED if result.refused else EXIT_OK


# -- convert-connection -----------------------------------------------------------------------------


def _convert_connection(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import contextlib

    from airflow_provider_smtpconn.cli.convert import convert, read_connection, report

    # Airflow logs to the stdout it finds when first imported (here): to stderr, so stdout is the report alone.
    with contextlib.redirect_stdout(sys.stderr):
        from airflow_provider_smtpconn.exceptions import SmtpConfigError

        try:
            converted = convert(read_connection(args.conn_id), new_conn_id=args.new_conn_id)
        except SmtpConfigError as exc:
            print(f"FAILED: {exc}")
            return EXIT_USAGE
    print(report(converted, args.conn_id, show_secrets=args.show_secrets))
    return EXIT_OK


# -- sink -------------------------------------------------------------------------------------------


def _sink(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from airflow_provider_smtpconn.cli.sink import run_sink

    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.implicit_tls and not args.tls_cert:
        parser.error("--implicit-tls needs --tls-cert and --tls-key")
    return run_sink(args, parser)
