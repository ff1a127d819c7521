"""The local SMTP sink of ``smtpconn sink``: an aiosmtpd server on loopback that accepts every message, stores it
in a Maildir with its envelope, and prints one line about it.

aiosmtpd is imported only when the sink runs (it is the ``[dev]`` extra).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse
    import asyncio
    import mailbox
    import ssl
    from collections.abc import Callable

EXIT_OK, EXIT_FAILED = 0, 1
INSTALL_HINT = "pip install 'airflow-provider-smtpconn[dev]'"


def run_sink(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the sink ``smtpconn sink`` asked for until SIGINT or SIGTERM; return the exit code.

    ``args`` has ``host``, ``port``, ``maildir``, ``tls_cert``, ``tls_key``, ``implicit_tls``, ``auth``
    (``(user, password)`` or ``None``) and ``quiet``; ``parser`` reports unusable TLS files.
    """
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
        for sub in ("tmp", "new", "cur"):  # Maildir(create=True) makes them only when the folder itself is new
            Path(args.maildir, sub).mkdir(exist_ok=True)
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

    # aiosmtpd warns on every connection when AUTH is required without TLS: the banner says so once instead.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    root = Path(args.maildir).resolve()
    handler = _SinkHandler(maildir, root, quiet=args.quiet, auth=args.auth)
    try:
        server = await loop.create_server(
            _protocol_factory(args, handler, tls_context, loop),
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
    _print_banner(args, server, root, tls_context)
    try:
        await stop.wait()
    finally:
        server.close()
        await _close_server(server, loop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    print(f"smtpconn sink stopped after {handler.count} message(s).", flush=True)
    return EXIT_OK


def _protocol_factory(
    args: argparse.Namespace, handler: _SinkHandler, tls_context: ssl.SSLContext | None, loop: asyncio.AbstractEventLoop
) -> Callable[[], Any]:
    """Aiosmtpd's SMTP protocol, made per connection, with the sink's AUTH and TLS rules."""
    from aiosmtpd.smtp import SMTP, AuthResult

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

    return protocol


def _print_banner(args: argparse.Namespace, server: Any, root: Path, tls_context: ssl.SSLContext | None) -> None:
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
    """aiosmtpd handler: store each message in the Maildir and print one line about it; AUTH XOAUTH2 too."""

    def __init__(
        self, maildir: mailbox.Maildir, root: Path, *, quiet: bool, auth: tuple[str, str] | None = None
    ) -> None:
        self.maildir = maildir
        self.root = root
        self.quiet = quiet
        self.auth = auth
        self.count = 0

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
        """XOAUTH2, so OAuth2 token sources can be tried locally: any token, or with ``--auth USER:TOKEN`` that
        token for that user (the initial response ``user=U^Aauth=Bearer T^A^A``, base64).
        """
        import base64
        import binascii

        from aiosmtpd.smtp import MISSING, AuthResult

        blob = args[1].encode() if len(args) > 1 else await server.challenge_auth("")
        if blob is MISSING:
            return AuthResult(success=False, handled=True)
        try:
            text = base64.b64decode(blob, validate=True).decode("utf-8", "replace") if len(args) > 1 else blob.decode()
        except (binascii.Error, ValueError):
            return AuthResult(success=False, handled=False)
        fields = dict(part.partition("=")[::2] for part in text.split("\x01") if part)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        ok = bool(user and token) and (self.auth is None or (user, token) == self.auth)
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

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
    # Names are the sender's text: escaped like the subject, so none can start a line of its own.
    attachments = ", ".join(json.dumps(name, ensure_ascii=False)[1:-1] for name in summary["attachments"]) or "-"
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
