"""A scriptable, fault-injecting SMTP server for tests, built on aiosmtpd.

``FaultServer`` runs aiosmtpd's protocol on its own asyncio loop in a background thread, bound to
127.0.0.1 on an ephemeral port. Tests script replies, dropped connections and delays, then observe
what the server saw. ``BlackHole`` accepts connections and never speaks; ``closed_port`` returns a
loopback port with nothing listening.

It offers PIPELINING (RFC 2920) unless told not to: aiosmtpd reads commands from a stream buffer, so commands
that arrive together are answered in order. To count round trips instead of timing them, it records each
*flight*: what the client wrote between two of the server's replies (the verbs, and ``.`` for the end of a
message's data), per connection.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email
import email.policy
import functools
import hmac
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Session

if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable
    from email.message import EmailMessage

    from aiosmtpd.smtp import Envelope, LoginPassword

__all__ = ["HOST", "BlackHole", "FaultServer", "Received", "closed_port"]

HOST = "127.0.0.1"
DROP_POINTS = frozenset({"connect", "greeting", "ehlo", "mid_body", "after_body"})
#: What a message's round trips are counted by: its envelope's verbs and the end of its data.
MESSAGE_VERBS = frozenset({"MAIL", "RCPT", "DATA", "."})
NO_VALID_RECIPIENTS = "554 5.5.1 Error: no valid recipients"
AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"
_XOAUTH2_ERROR = json.dumps({"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"})
_PARK_SECONDS = 30.0  # an aborted session waits here until connection_lost() cancels it


@dataclass
class Received:
    """One message the server accepted (answered 2xx after the body's final dot)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # exactly as received, dot-unstuffed, CRLF line endings
    mail_options: list[str]
    message: EmailMessage
    message_id: str | None
    tls: bool
    authenticated_as: str | None
    #: DSN parameters as the client sent them (with ``dsn=True``): ``"MAIL"`` -> [RET=..., ENVID=...], and each
    #: recipient -> [NOTIFY=..., ORCPT=...].
    dsn: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Reply:
    command: str
    reply: str
    remaining: int | None
    address: str | None


def _check_times(times: int | None) -> None:
    if times is not None and times < 1:
        raise ValueError("times must be a positive int or None (always)")


class FaultServer:
    """An SMTP server on 127.0.0.1 whose replies, drops and delays are scripted by the test.

    Use as ``with FaultServer(...) as srv:``; ``srv.host``/``srv.port`` are valid inside the block.
    Scripting and observation methods are thread-safe and may be called while clients are connected.
    """

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        starttls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        offer_starttls: bool = True,
        auth: dict[str, str] | None = None,
        auth_mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN"),
        xoauth2: dict[str, str] | Callable[[str, str], bool] | None = None,
        cram_md5_works: bool = True,
        size_limit: int | None = None,
        smtputf8: bool = True,
        hostname: str = "fault.test",
        max_lifetime: float = 300.0,
        pipelining: bool = True,
        reply_gap: float = 0.0,
        dsn: bool = False,
        eightbitmime: bool = True,
        max_recipients: int | None = None,
    ) -> None:
        """``pipelining``: offer PIPELINING in EHLO. ``reply_gap``: wait this many seconds before each reply, so
        that every reply leaves on its own, one command at a time, however the commands arrived. ``dsn``: offer
        DSN (RFC 3461) and record its parameters in :attr:`Received.dsn`. ``eightbitmime``: offer 8BITMIME.
        ``max_recipients``: answer ``452 4.5.3`` to every RCPT past this many in one transaction, as Google
        Workspace (100) or Amazon SES (50) do."""
        self.host = HOST
        self.port = 0
        self._tls_context = tls_context
        self._starttls_context = starttls_context
        self._require_starttls = require_starttls
        self._offer_starttls = offer_starttls
        self._auth = dict(auth) if auth is not None else None
        self._auth_mechanisms = tuple(m.upper() for m in auth_mechanisms)
        # XOAUTH2: a {user: token} map, or a validator(user, token) asked at AUTH and again before each MAIL (a
        # server that stops honouring a session whose token expired, as an OAuth2 test endpoint decides).
        self._xoauth2 = xoauth2 if callable(xoauth2) or xoauth2 is None else dict(xoauth2)
        self._cram_md5_works = cram_md5_works
        self._size_limit = size_limit
        self._smtputf8 = smtputf8
        self._hostname = hostname
        self._max_lifetime = max_lifetime
        self._pipelining = pipelining
        self._reply_gap = reply_gap
        self._dsn = dsn
        self._eightbitmime = eightbitmime
        self._max_recipients = max_recipients
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._replies: list[_Reply] = []
        self._drops: dict[str, int | None] = {}
        self._delays: dict[str, float] = {}
        self._commands: list[str] = []
        self._connections = 0
        self._auth_attempts: list[tuple[str, str, bool]] = []
        self._messages: list[Received] = []
        self._rejected: list[Received] = []
        self._flights: list[list[list[str]]] = []  # per connection, per flight, the verbs
        self._data_without_recipients: list[bytes] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None
        self._startup_error: BaseException | None = None
        self._protocols: set[_FaultSMTP] = set()  # touched only on the loop thread

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> FaultServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Bind an ephemeral loopback port and serve on a background thread."""
        if self._thread is not None:
            raise RuntimeError("FaultServer already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((HOST, 0))
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._startup_error = None
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(sock, ready), name=f"FaultServer-{self.port}", daemon=True
        )
        self._thread.start()
        if not ready.wait(10.0) or self._startup_error is not None:
            error = self._startup_error
            self.stop()
            raise RuntimeError("FaultServer failed to start") from error

    def stop(self) -> None:
        """Abort every open session, close the listener and join the loop thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(event.set)
        thread.join(10.0)
        if thread.is_alive():
            raise RuntimeError("FaultServer thread did not stop within 10 s")
        self._loop = self._stop_event = None

    def _run(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(sock, ready))
        except BaseException as exc:
            self._startup_error = self._startup_error or exc
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            ready.set()

    async def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        try:
            server = await loop.create_server(
                self._make_protocol,
                sock=sock,
                ssl=self._tls_context,
                ssl_handshake_timeout=5.0 if self._tls_context is not None else None,
            )
        except BaseException as exc:
            sock.close()
            self._startup_error = exc
            ready.set()
            return
        ready.set()
        try:
            await asyncio.wait_for(self._stop_event.wait(), self._max_lifetime)
        except asyncio.TimeoutError:
            pass
        finally:
            server.close()
            for proto in list(self._protocols):
                proto.abort_connection()
            abort_clients = getattr(server, "abort_clients", None)  # Python >= 3.13
            if abort_clients is not None:
                abort_clients()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2.0)
            for _ in range(5):  # let connection_lost() callbacks run
                await asyncio.sleep(0)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=2.0)

    def _make_protocol(self) -> _FaultSMTP:
        with self._lock:
            self._connections += 1
        excluded = []
        excluded += [m for m in ("PLAIN", "LOGIN", "CRAM-MD5") if self._auth is None or m not in self._auth_mechanisms]
        if self._xoauth2 is None:
            excluded.append("XOAUTH2")
        proto = _FaultSMTP(
            self,
            data_size_limit=self._size_limit,
            enable_SMTPUTF8=self._smtputf8,
            hostname=self._hostname,
            tls_context=self._starttls_context,
            require_starttls=self._require_starttls,
            auth_require_tls=False,
            auth_exclude_mechanism=excluded,
            authenticator=self._authenticate,
            timeout=60,
            loop=asyncio.get_running_loop(),
        )
        self._protocols.add(proto)
        return proto

    # -- scripting -------------------------------------------------------------------------------
    def reply(self, command: str, reply: str, times: int | None = 1, address: str | None = None) -> None:
        """Answer the next ``times`` (None: every) occurrence of ``command`` with ``reply``.

        ``command`` is "greeting", "EOD" (after the body's final dot) or an SMTP verb such as
        "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA". ``address`` restricts a RCPT script to
        one recipient. A scripted reply replaces normal handling (no state change); a 421 reply
        closes the connection after it is sent. A 354 scripted for DATA (a server that answers 354 even
        when it accepted no recipient) reads the data section that follows, keeps it in
        ``data_without_recipients`` and answers it with the EOD script or 554.
        """
        command = command.upper()
        if len(reply) < 3 or not reply[:3].isdigit():
            raise ValueError(f"reply must start with a 3-digit code: {reply!r}")
        if address is not None and command != "RCPT":
            raise ValueError("address= only applies to RCPT")
        _check_times(times)
        addr = address.lower() if address is not None else None
        with self._lock:
            self._replies.append(_Reply(command, reply, times, addr))

    def drop(self, at: str, times: int | None = 1) -> None:
        """Abort the TCP connection at ``at`` (one of DROP_POINTS) for the next ``times`` sessions."""
        if at not in DROP_POINTS:
            raise ValueError(f"unknown drop point {at!r}; expected one of {sorted(DROP_POINTS)}")
        _check_times(times)
        with self._lock:
            self._drops["connect" if at == "greeting" else at] = times

    def delay(self, command: str, seconds: float) -> None:
        """Sleep ``seconds`` before every reply to ``command`` ("greeting", "EOD" or a verb); 0 clears."""
        with self._lock:
            self._delays[command.upper()] = float(seconds)

    def starttls_fails(self, reply: str = "454 4.7.0 TLS not available", times: int | None = 1) -> None:
        """Refuse the next ``times`` STARTTLS commands with ``reply``."""
        self.reply("STARTTLS", reply, times=times)

    def reset(self) -> None:
        """Forget every script and every observation."""
        with self._lock:
            self._replies.clear()
            self._drops.clear()
            self._delays.clear()
            self._commands.clear()
            self._connections = 0
            self._auth_attempts.clear()
            self._messages.clear()
            self._rejected.clear()
            self._flights.clear()
            self._data_without_recipients.clear()

    # -- observations ----------------------------------------------------------------------------
    @property
    def commands(self) -> list[str]:
        """Every recognised SMTP verb received, upper-case, in order, across sessions."""
        with self._lock:
            return list(self._commands)

    @property
    def connections(self) -> int:
        """Number of TCP connections accepted."""
        with self._lock:
            return self._connections

    @property
    def auth_attempts(self) -> list[tuple[str, str, bool]]:
        """(mechanism, username, success) for each credential check; passwords are never kept."""
        with self._lock:
            return list(self._auth_attempts)

    @property
    def messages(self) -> list[Received]:
        """Messages accepted so far, in order."""
        with self._lock:
            return list(self._messages)

    @property
    def rejected(self) -> list[Received]:
        """Messages whose whole body arrived but got a non-2xx final reply (so were not accepted)."""
        with self._lock:
            return list(self._rejected)

    @property
    def flights(self) -> list[list[list[str]]]:
        """Per connection, in the order they were made: each flight (what the client wrote between two replies
        of the server), as the verbs it held, with ``.`` for the end of a message's data."""
        with self._lock:
            return [[list(flight) for flight in flights] for flights in self._flights]

    def round_trips(self) -> int:
        """The flights, over every connection, that carried part of a message (envelope or data): a client in
        lock-step makes 4 per message, one pipelining within a message 2, one pipelining across messages about 1.
        """
        return sum(1 for flights in self.flights for flight in flights if MESSAGE_VERBS.intersection(flight))

    @property
    def data_without_recipients(self) -> list[bytes]:
        """Data sections received after a scripted 354 to a DATA with no accepted recipient (see :meth:`reply`)."""
        with self._lock:
            return list(self._data_without_recipients)

    def count(self, message_id: str) -> int:
        """How many accepted messages carry this Message-ID."""
        wanted = message_id.strip()
        with self._lock:
            return sum(1 for m in self._messages if m.message_id == wanted)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``n`` messages were accepted; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._messages) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self._messages)} of {n} messages after {timeout} s")
                self._changed.wait(remaining)
            return list(self._messages)

    # -- called from the loop thread -------------------------------------------------------------
    def _record_command(self, verb: str, flights: list[list[str]] | None = None) -> None:
        with self._lock:
            if verb != ".":
                self._commands.append(verb)
            if flights:
                flights[-1].append(verb)

    def _new_connection_flights(self) -> list[list[str]]:
        with self._lock:
            self._flights.append([])
            return self._flights[-1]

    def _new_flight(self, flights: list[list[str]]) -> None:
        with self._lock:
            flights.append([])

    def _record_auth(self, mechanism: str, user: str, ok: bool) -> None:
        with self._lock:
            self._auth_attempts.append((mechanism, user, ok))

    def _accept(self, received: Received) -> None:
        with self._changed:
            self._messages.append(received)
            self._changed.notify_all()

    def _reject(self, received: Received) -> None:
        with self._lock:
            self._rejected.append(received)

    def _take_reply(self, command: str, address: str | None = None) -> str | None:
        addr = address.lower() if address else None
        with self._lock:
            match = None
            if addr is not None:
                match = next((r for r in self._replies if r.command == command and r.address == addr), None)
            if match is None:
                match = next((r for r in self._replies if r.command == command and r.address is None), None)
            if match is None:
                return None
            if match.remaining is not None:
                match.remaining -= 1
                if match.remaining <= 0:
                    self._replies.remove(match)
            return match.reply

    def _take_drop(self, at: str) -> bool:
        with self._lock:
            if at not in self._drops:
                return False
            remaining = self._drops[at]
            if remaining is not None:
                if remaining <= 1:
                    del self._drops[at]
                else:
                    self._drops[at] = remaining - 1
            return True

    async def _sleep(self, command: str) -> None:
        with self._lock:
            seconds = self._delays.get(command, 0.0)
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _token_valid(self, user: str, token: str) -> bool:
        tokens = self._xoauth2
        if callable(tokens):
            return bool(tokens(user, token))
        return tokens is not None and tokens.get(user) == token

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: LoginPassword
    ) -> AuthResult:
        user = data.login.decode("utf-8", "replace")
        password = data.password.decode("utf-8", "replace")
        ok = self._auth is not None and user in self._auth and self._auth[user] == password
        self._record_auth(mechanism, user, ok)
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)


def _parse_xoauth2(blob: bytes) -> tuple[str | None, str | None]:
    """Split ``user=U\\x01auth=Bearer T\\x01\\x01`` into (U, T)."""
    fields = dict(part.partition("=")[::2] for part in blob.decode("utf-8", "replace").split("\x01") if part)
    auth = fields.get("auth", "")
    token = auth[7:] if auth.startswith("Bearer ") else None
    return fields.get("user"), token


class _Handler:
    """aiosmtpd handler: trims EHLO, ends DATA, and implements AUTH XOAUTH2."""

    def __init__(self, fault: FaultServer) -> None:
        self._fault = fault

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # the 5-argument hook must do this itself
        fault = self._fault
        hide = set()
        if fault._auth is None and fault._xoauth2 is None:
            hide.add("AUTH")
        if not fault._offer_starttls:
            hide.add("STARTTLS")
        if not fault._eightbitmime:
            hide.add("8BITMIME")
        lines = [r[4:] for r in responses if r[4:].split(" ", 1)[0].upper() not in hide]
        if fault._pipelining:
            lines.insert(-1, "PIPELINING")
        if fault._dsn:
            lines.insert(-1, "DSN")
        return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]

    async def handle_DATA(self, server: _FaultSMTP, session: Session, envelope: Envelope) -> str:
        return await server.end_of_data(envelope)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) > 1:
            try:
                blob: Any = base64.b64decode(args[1].encode(), validate=True)
            except (binascii.Error, ValueError):
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            blob = await server.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        user, token = _parse_xoauth2(blob)
        ok = user is not None and token is not None and self._fault._token_valid(user, token)
        self._fault._record_auth("XOAUTH2", user or "", ok)
        if ok:
            server.session.xoauth2 = (user, token)  # type: ignore[union-attr]
            return AuthResult(success=True, auth_data=user)
        # Gmail: a 334 carrying a base64 JSON error, then 535 after the client's empty line.
        if await server.challenge_auth(_XOAUTH2_ERROR) is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message=AUTH_INVALID)

    async def auth_CRAM__MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        """RFC 2195: a challenge, then ``user hex(hmac_md5(password, challenge))``. With ``cram_md5_works=False``
        it fails for every user, as Postfix with saslauthd does (it cannot verify CRAM-MD5)."""
        challenge = f"<{secrets.token_hex(8)}@{self._fault._hostname}>".encode()
        blob = await server.challenge_auth(challenge)
        if blob is MISSING:
            return AuthResult(success=False, handled=True)
        user, _, digest = blob.decode("utf-8", "replace").rpartition(" ")
        password = (self._fault._auth or {}).get(user)
        expected = hmac.new(password.encode(), challenge, "md5").hexdigest() if password is not None else None
        ok = self._fault._cram_md5_works and expected is not None and hmac.compare_digest(expected, digest)
        self._fault._record_auth("CRAM-MD5", user, ok)
        return AuthResult(
            success=ok, handled=False, auth_data=user if ok else None, message=None if ok else AUTH_INVALID
        )


class _QuietSession(Session):
    """aiosmtpd logs a deprecation warning whenever smtp_AUTH sets ``login_data``; keep logs quiet."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _FaultSMTP(SMTP):
    """aiosmtpd's SMTP protocol with script hooks around the greeting, each verb and the body."""

    def __init__(self, fault: FaultServer, **kwargs: Any) -> None:
        super().__init__(_Handler(fault), **kwargs)
        self._fault = fault
        self._greeted = False
        self._in_body = False
        self._body_seen = False
        self._flights = fault._new_connection_flights()
        self._replied = True  # the greeting: the client's first bytes start a flight
        self._smtp_methods = {verb: self._scripted(verb, m) for verb, m in self._smtp_methods.items()}

    def _scripted(self, verb: str, method: Callable[[str | None], Awaitable[None]]) -> Any:
        @functools.wraps(method)  # keeps __smtp_syntax__ for HELP
        async def run(arg: str | None) -> None:
            await self._run_command(verb, method, arg)

        return run

    async def _run_command(self, verb: str, method: Callable[[str | None], Awaitable[None]], arg: str | None) -> None:
        fault = self._fault
        fault._record_command(verb, self._flights)
        if verb in ("EHLO", "HELO") and fault._take_drop("ehlo"):
            await self._abort_and_park()
            return
        await fault._sleep(verb)
        address = self._rcpt_address(arg) if verb == "RCPT" else None
        authorised = getattr(self.session, "xoauth2", None)
        if verb == "MAIL" and authorised is not None and not fault._token_valid(*authorised):
            await self.push("530 5.7.0 Authentication required: the session's OAuth2 token is no longer valid")
            return
        if fault._dsn and verb in ("MAIL", "RCPT"):
            arg = self._take_dsn_params(verb, address, arg)
        limit = fault._max_recipients
        if verb == "RCPT" and limit is not None and self.envelope is not None and len(self.envelope.rcpt_tos) >= limit:
            await self.push("452 4.5.3 Too many recipients")
            return
        scripted = fault._take_reply(verb, address)
        if scripted is not None and verb == "DATA" and scripted.startswith("354"):
            await self._data_without_recipients(scripted)
            return
        if scripted is not None:
            await self.push(scripted)
            return
        try:
            await method(arg)
        finally:
            if verb == "DATA":
                self._in_body = False

    def _take_dsn_params(self, verb: str, address: str | None, arg: str | None) -> str | None:
        """Record and remove the DSN parameters of MAIL (RET, ENVID) or RCPT (NOTIFY, ORCPT), which aiosmtpd does
        not know; the rest of ``arg`` goes on to aiosmtpd."""
        if not arg:
            return arg
        names = ("RET", "ENVID") if verb == "MAIL" else ("NOTIFY", "ORCPT")
        words = arg.split(" ")
        taken = [w for w in words if w.partition("=")[0].upper() in names]
        if verb == "MAIL":
            self._dsn_params = {"MAIL": taken}
        elif address is not None:
            self._dsn_params = {**getattr(self, "_dsn_params", {}), address: taken}
        return " ".join(w for w in words if w not in taken)

    async def _data_without_recipients(self, scripted: str) -> None:
        """Answer DATA with ``scripted`` (a 354) although no recipient was accepted, read the data section that
        follows (dot-stuffed as sent) and answer its end as a server with no recipient does."""
        await self.push(scripted)
        lines = []
        while (line := await self._reader.readuntil(b"\r\n")) != b".\r\n":
            lines.append(line)
        self._in_body = False
        self._set_post_data_state()  # the transaction is over, as after any data section
        fault = self._fault
        fault._record_command(".", self._flights)
        with fault._lock:
            fault._data_without_recipients.append(b"".join(lines))
        await self.push(fault._take_reply("EOD") or NO_VALID_RECIPIENTS)

    def _create_session(self) -> Session:
        return _QuietSession(self.loop)

    def _rcpt_address(self, arg: str | None) -> str | None:
        stripped = self._strip_command_keyword("TO:", arg or "")
        return self._getaddr(stripped)[0] if stripped else None

    async def _handle_client(self) -> None:
        if self._fault._take_drop("connect"):
            self.abort_connection()
            return
        await super()._handle_client()

    async def push(self, status: Any) -> None:
        if not self._greeted:  # the first push is aiosmtpd's 220 greeting
            self._greeted = True
            await self._fault._sleep("GREETING")
            status = self._fault._take_reply("GREETING") or status
        elif self._fault._reply_gap:
            await asyncio.sleep(self._fault._reply_gap)
        self._replied = True
        await super().push(status)
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
        if text.startswith("354"):
            self._in_body, self._body_seen = True, False
        elif text.startswith("421") and self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._replied:  # the first bytes since the server last answered: a new flight
            self._replied = False
            self._fault._new_flight(self._flights)
        if self._in_body and not self._body_seen:
            self._body_seen = True
            if self._fault._take_drop("mid_body"):
                self.abort_connection()
                return
        super().data_received(data)

    def connection_made(self, transport: Any) -> None:
        # Like a real MTA: without TCP_NODELAY every multi-line reply (EHLO) waits ~40 ms for the client's delayed ACK.
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._fault._protocols.discard(self)
        super().connection_lost(error)

    def abort_connection(self) -> None:
        """Close the TCP connection abruptly (no reply, no TLS close_notify)."""
        if self.transport is not None:
            self.transport.abort()

    async def _abort_and_park(self) -> None:
        self.abort_connection()
        await asyncio.sleep(_PARK_SECONDS)  # cancelled by connection_lost()

    async def end_of_data(self, envelope: Envelope) -> str:
        """Final reply after the body's dot: honour after_body/EOD scripts, record acceptance.

        Like a real MTA, the message is committed *before* any EOD delay, so a client that gives up
        while waiting for the 250 still leaves a delivered message behind.
        """
        self._in_body = False
        fault = self._fault
        fault._record_command(".", self._flights)
        if fault._take_drop("after_body"):
            await self._abort_and_park()
        status = fault._take_reply("EOD") or "250 2.0.0 OK: queued"
        if status.startswith("2"):
            fault._accept(self._received(envelope))
        else:
            fault._reject(self._received(envelope))
        await fault._sleep("EOD")
        return status

    def _received(self, envelope: Envelope) -> Received:
        data = bytes(envelope.original_content or b"")
        message: Any = email.message_from_bytes(data, policy=email.policy.default)
        try:
            raw_id = message.get("Message-ID")
        except Exception:  # malformed header: keep the message, lose the id
            raw_id = None
        session = self.session
        user = session.auth_data if session is not None and session.authenticated else None
        tls = self.transport is not None and self.transport.get_extra_info("ssl_object") is not None
        return Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=data,
            mail_options=list(envelope.mail_options),
            message=message,
            message_id=str(raw_id).strip() if raw_id is not None else None,
            tls=tls,
            authenticated_as=user if isinstance(user, str) else None,
            dsn=dict(getattr(self, "_dsn_params", {})),
        )


class BlackHole:
    """A loopback listener that accepts TCP connections and never sends a byte."""

    def __init__(self, max_lifetime: float = 300.0, max_connections: int = 256) -> None:
        self.host = HOST
        self.port = 0
        self._max_lifetime = max_lifetime
        self._max_connections = max_connections
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def connections(self) -> int:
        """Number of TCP connections accepted."""
        with self._lock:
            return len(self._conns)

    def __enter__(self) -> BlackHole:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((HOST, 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name=f"BlackHole-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _accept_loop(self) -> None:
        assert self._sock is not None
        deadline = time.monotonic() + self._max_lifetime
        while not self._stop.is_set() and time.monotonic() < deadline:
            if self.connections >= self._max_connections:
                break
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            with self._lock:
                self._conns.append(conn)

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        with self._lock:
            for conn in self._conns:
                conn.close()
        if self._sock is not None:
            self._sock.close()


def closed_port() -> int:
    """A loopback port with nothing listening on it (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]
