"""The ``smtpconn`` command: a local SMTP sink, and checking or trying an Airflow connection.

``smtpconn sink``       a loopback SMTP server that accepts every message and stores it in a Maildir.
``smtpconn check``      the hook's ``test_connection()`` for an ``smtpconn`` connection (sends no mail).
``smtpconn send-test``  one short test email through a connection (Airflow itself cannot send one).

Airflow and aiosmtpd are imported inside the subcommands, so ``smtpconn --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    import mailbox
    import ssl
    from collections.abc import Sequence

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8025
DEFAULT_MAILDIR = "smtpconn-maildir"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
INSTALL_HINT = "pip install 'airflow-provider-smtpconn[dev]'"


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``smtpconn`` and its three subcommands."""
    parser = argparse.ArgumentParser(
        prog="smtpconn",
        description="A local SMTP sink, and tools to check an Airflow 'smtpconn' connection or send a test email.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``smtpconn`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args, args.parser)


# -- check ------------------------------------------------------------------------------------------


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook

    ok, text = SmtpConnHook(smtp_conn_id=args.conn_id).test_connection()
    if ok:
        print(f"OK: {text}")
        return EXIT_OK
    print(f"FAILED: {text}", file=sys.stderr)
    return EXIT_FAILED


# -- send-test --------------------------------------------------------------------------------------


def _send_test(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import socket
    from datetime import datetime, timezone

    from airflow_provider_smtpconn.compose import EmailSpec, make_message_id, parse_addresses
    from airflow_provider_smtpconn.exceptions import MessageError
    from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook

    try:
        recipients = parse_addresses(args.to, "--to")
        if args.from_email:
            parse_addresses(args.from_email, "--from")
    except MessageError as exc:
        parser.error(str(exc))
    hook = SmtpConnHook(smtp_conn_id=args.conn_id)
    try:
        sender = args.from_email or hook.from_email
        if not sender:
            print(
                f"FAILED: connection {args.conn_id!r} has no from_email and its login is not an address; give --from.",
                file=sys.stderr,
            )
            return EXIT_FAILED
        domain = parse_addresses(sender, "from_email")[0].domain
        now = datetime.now(timezone.utc)
        message = EmailSpec(
            sender=sender,
            to=[str(r) for r in recipients],
            subject=args.subject,
            text=(
                f"This is a test email sent by `smtpconn send-test` through the Airflow connection "
                f"{args.conn_id!r} from {socket.gethostname()} at {now:%Y-%m-%d %H:%M:%S} UTC.\n\n"
                "If you can read this, the connection can send mail.\n"
            ),
            message_id=make_message_id(domain),
        ).build()
        result = hook.send(message)
    except Exception as exc:
        print(f"FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Message-ID: {result.message_id}")
    print(f"Accepted:   {', '.join(result.accepted) or '(none)'}")
    refused = "; ".join(f"{addr} ({code} {text})" for addr, (code, text) in result.refused.items())
    print(f"Refused:    {refused or '(none)'}")
    print(f"Size:       {result.size_bytes} bytes")
    return EXIT_FAILED if result.refused else EXIT_OK


# -- sink -------------------------------------------------------------------------------------------


def _sink(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.implicit_tls and not args.tls_cert:
        parser.error("--implicit-tls needs --tls-cert and --tls-key")
    tls_context = _server_tls(parser, args.tls_cert, args.tls_key) if args.tls_cert else None
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        print(f"smtpconn sink needs aiosmtpd, which is not installed: {INSTALL_HINT}", file=sys.stderr)
        return EXIT_FAILED
    import asyncio
    import logging
    import mailbox

    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd logs every command, and deprecations
    try:
        maildir = mailbox.Maildir(args.maildir, create=True)
    except OSError as exc:
        print(f"Cannot use {args.maildir!r} as a Maildir: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        return asyncio.run(_serve(args, maildir, tls_context))
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        return EXIT_OK


def _server_tls(parser: argparse.ArgumentParser, cert: str, key: str) -> ssl.SSLContext:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        parser.error(f"cannot load --tls-cert {cert!r} with --tls-key {key!r}: {exc}")
    return context


async def _serve(args: argparse.Namespace, maildir: mailbox.Maildir, tls_context: ssl.SSLContext | None) -> int:
    import asyncio
    import signal
    import warnings

    from aiosmtpd.smtp import SMTP, AuthResult

    # aiosmtpd warns on every connection when AUTH is required without TLS: the banner says so once instead.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    root = Path(args.maildir).resolve()
    handler = _SinkHandler(maildir, root, quiet=args.quiet)

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if args.auth is None:  # accept everything, any credentials
            return AuthResult(success=True, handled=False)
        user = data.login.decode("utf-8", "replace")
        password = data.password.decode("utf-8", "replace")
        return AuthResult(success=(user, password) == args.auth, handled=False)

    starttls = tls_context if not args.implicit_tls else None

    def protocol() -> SMTP:
        return SMTP(
            handler,
            hostname="smtpconn-sink",
            ident="smtpconn sink",
            tls_context=starttls,
            authenticator=authenticate,
            auth_required=args.auth is not None,
            # With TLS offered, credentials only after STARTTLS; without, the client decides (loopback by default).
            auth_require_tls=starttls is not None,
            enable_SMTPUTF8=True,
            data_size_limit=None,
            loop=loop,
        )

    try:
        server = await loop.create_server(
            protocol,
            host=args.host,
            port=args.port,
            ssl=tls_context if args.implicit_tls else None,
            reuse_address=True,
        )
    except OSError as exc:
        print(f"Cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    addresses = ", ".join(_format_address(sock.getsockname()) for sock in server.sockets)
    tls = ", implicit TLS" if args.implicit_tls else (", STARTTLS offered" if tls_context else "")
    auth = f", AUTH required for {args.auth[0]!r}" if args.auth else ""
    if args.auth and tls_context is None:
        auth += " (without TLS: keep it on loopback)"
    print(
        f"smtpconn sink listening on {addresses}{tls}{auth}; storing messages in {root} (Maildir). Ctrl-C to stop.",
        flush=True,
    )
    if not all(_is_loopback(sock.getsockname()[0]) for sock in server.sockets):
        print(
            "Warning: this address is not loopback; anyone who can reach it can put mail into the Maildir.",
            file=sys.stderr,
            flush=True,
        )
    try:
        await stop.wait()
    finally:
        server.close()
        await _close_server(server, loop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    print(f"smtpconn sink stopped after {handler.count} message(s).", flush=True)
    return EXIT_OK


async def _close_server(server: asyncio.base_events.Server, loop: asyncio.AbstractEventLoop) -> None:
    import asyncio
    import contextlib

    abort_clients = getattr(server, "abort_clients", None)  # Python >= 3.13
    if abort_clients is not None:
        abort_clients()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(server.wait_closed(), 2.0)
    tasks = [t for t in asyncio.all_tasks(loop) if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=2.0)


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _format_address(address: Any) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _SinkHandler:
    """aiosmtpd handler: store each message in the Maildir and print one line about it."""

    def __init__(self, maildir: mailbox.Maildir, root: Path, *, quiet: bool) -> None:
        self.maildir = maildir
        self.root = root
        self.quiet = quiet
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = bytes(envelope.original_content or envelope.content or b"")
        key = store_message(self.maildir, data, envelope.mail_from or "", list(envelope.rcpt_tos))
        stored = self.root / "new" / key
        self.count += 1
        if not self.quiet:
            print(describe_message(data, envelope.mail_from or "", list(envelope.rcpt_tos), stored), flush=True)
        return "250 2.0.0 OK: stored by smtpconn sink"


def store_message(maildir: mailbox.Maildir, data: bytes, mail_from: str, rcpt_tos: list[str]) -> str:
    """Add one received message to ``maildir`` with its envelope in front; return its key (file name in ``new/``).

    ``Return-Path`` and ``X-Smtpconn-Envelope-To`` keep the envelope (Bcc recipients appear in no other header);
    lines end in LF, as Maildir readers expect.
    """
    envelope = f"Return-Path: <{mail_from}>\nX-Smtpconn-Envelope-To: {', '.join(rcpt_tos)}\n".encode()
    return maildir.add(envelope + data.replace(b"\r\n", b"\n"))


def describe_message(data: bytes, mail_from: str, rcpt_tos: list[str], stored: Path | None = None) -> str:
    """One line about a message: sender, recipients, subject, attachment names, size (and where it is stored)."""
    summary = summarize_message(data)
    attachments = ", ".join(summary["attachments"]) or "-"
    line = (
        f"from={mail_from or '<>'} to={','.join(rcpt_tos)} subject={json.dumps(summary['subject'], ensure_ascii=False)}"
        f" attachments={attachments} size={len(data)}"
    )
    return f"{line} stored={stored}" if stored is not None else line


def summarize_message(data: bytes) -> dict[str, Any]:
    """Subject, Message-ID and attachment names (inline ones marked) of a raw message; never raises."""
    import email
    import email.policy

    try:
        message = email.message_from_bytes(data, policy=email.policy.default)
        subject = str(message.get("Subject", ""))
        message_id = str(message.get("Message-ID", "")).strip()
        names = []
        for part in message.walk():
            if part.is_multipart():
                continue
            filename = part.get_filename()
            if filename:
                inline = part.get_content_disposition() == "inline" or part.get("Content-ID")
                names.append(f"{filename} (inline)" if inline else filename)
    except Exception as exc:  # a sink must not fail on a malformed message
        return {"subject": f"<unreadable: {exc}>", "message_id": "", "attachments": []}
    return {"subject": subject, "message_id": message_id, "attachments": names}


if __name__ == "__main__":
    sys.exit(main())
