"""An OAuth2 token endpoint for tests: HTTPS on 127.0.0.1, in the test process, with a trustme certificate.

``TokenEndpoint`` answers the grants the provider's token sources use, the way Entra ID and Google do:

* ``client_credentials`` (MSAL, Authlib): client authentication by HTTP Basic or by form fields;
* ``refresh_token`` (google-auth, Authlib): a registered refresh token, unless revoked;
* ``urn:ietf:params:oauth:grant-type:jwt-bearer`` (a Google service account): the assertion's RS256 signature is
  checked with the service account's public key, its audience must be Google's token URI, and its claims (``iss``,
  ``sub``, ``scope``) are recorded;
* MSAL's OpenID discovery document at ``/<tenant>/v2.0/.well-known/openid-configuration``.

Tokens are short-lived on request (``expires_in``), timed by a clock the test may move. ``fail_next`` scripts
``invalid_client``, ``invalid_grant``, ``500`` or ``hang`` (no answer until the endpoint stops). ``accepts(user,
token)`` is the validator an SMTP test server uses to accept only the token issued last, while it is unexpired.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

import jwt

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

HOST = "127.0.0.1"
FAILURES = ("invalid_client", "invalid_grant", "500", "hang")
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


@dataclass
class TokenRequest:
    """One POST the endpoint received (secrets are not kept)."""

    path: str
    grant_type: str | None
    client_id: str | None
    scope: str | None
    subject: str | None = None  # the JWT assertion's sub (Google domain-wide delegation)
    claims: dict[str, Any] = field(default_factory=dict)
    client_auth: str | None = None  # "basic" or "post"


@dataclass
class _Issued:
    expires_at: float
    subject: str | None


class TokenEndpoint:
    """An HTTPS OAuth2 token endpoint on 127.0.0.1; use as ``with TokenEndpoint(server_tls) as endpoint:``."""

    def __init__(
        self,
        tls: ssl.SSLContext,
        *,
        clients: dict[str, str] | None = None,
        refresh_tokens: dict[str, str] | None = None,
        service_accounts: dict[str, str] | None = None,
        expires_in: int = 3600,
        clock: Callable[[], float] = time.time,
        max_hang: float = 30.0,
    ) -> None:
        self._tls = tls
        self.clients = dict(clients or {})  # client_id -> client_secret
        self.refresh_tokens = dict(refresh_tokens or {})  # refresh token -> client_id
        self.service_accounts = dict(service_accounts or {})  # client_email -> public key PEM
        self.expires_in = expires_in
        self.clock = clock
        self._max_hang = max_hang
        self._lock = threading.Lock()
        self._failures: list[str] = []
        self._issued: dict[str, _Issued] = {}
        self._requests: list[TokenRequest] = []
        self._discoveries = 0
        self.last_token: str | None = None
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------------
    def __enter__(self) -> TokenEndpoint:
        server = ThreadingHTTPServer((HOST, 0), _Handler)
        server.daemon_threads = True
        server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        server.endpoint = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"TokenEndpoint-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>``: the authority for MSAL (the tenant is appended to it)."""
        return f"https://{HOST}:{self.port}"

    @property
    def token_url(self) -> str:
        """The token endpoint for google-auth and Authlib."""
        return f"{self.base_url}/token"

    # -- scripting ------------------------------------------------------------------------------------
    def fail_next(self, failure: str, times: int = 1) -> None:
        """Answer the next ``times`` token requests with ``failure`` (one of FAILURES)."""
        if failure not in FAILURES:
            raise ValueError(f"unknown failure {failure!r}; expected one of {FAILURES}")
        with self._lock:
            self._failures.extend([failure] * times)

    def revoke(self, refresh_token: str) -> None:
        """Make ``refresh_token`` answer invalid_grant from now on."""
        with self._lock:
            self.refresh_tokens.pop(refresh_token, None)

    # -- observations ---------------------------------------------------------------------------------
    @property
    def requests(self) -> list[TokenRequest]:
        """Every token request received, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def grant_types(self) -> list[str | None]:
        return [r.grant_type for r in self.requests]

    @property
    def issued(self) -> list[str]:
        """Every token issued, in order."""
        with self._lock:
            return list(self._issued)

    @property
    def discoveries(self) -> int:
        """How many times the OpenID discovery document was fetched."""
        with self._lock:
            return self._discoveries

    def accepts(self, user: str, token: str) -> bool:
        """Whether ``token`` is the last one issued and unexpired (and, for a delegated token, issued for ``user``)."""
        with self._lock:
            issued = self._issued.get(token)
            if issued is None or token != self.last_token or self.clock() >= issued.expires_at:
                return False
            return issued.subject is None or issued.subject == user

    # -- called from the handler threads ----------------------------------------------------------------
    def _take_failure(self) -> str | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _issue(self, subject: str | None) -> str:
        token = f"tok-{len(self._issued) + 1}-{secrets.token_hex(12)}"
        with self._lock:
            self._issued[token] = _Issued(self.clock() + self.expires_in, subject)
            self.last_token = token
        return token

    def _discovery(self, tenant: str) -> dict[str, Any]:
        with self._lock:
            self._discoveries += 1
        base = f"{self.base_url}/{tenant}"
        return {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
        }

    def _answer(self, path: str, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type")
        client_id, secret = basic if basic else (form.get("client_id"), form.get("client_secret"))
        request = TokenRequest(path, grant, client_id, form.get("scope"), client_auth="basic" if basic else "post")
        if grant == JWT_BEARER:
            return self._jwt_grant(request, form.get("assertion") or "")
        self._record(request)
        if client_id not in self.clients or (self.clients[client_id] and self.clients[client_id] != secret):
            return 401, _error("invalid_client", "AADSTS7000215: Invalid client secret provided.")
        if grant == "client_credentials":
            return 200, self._token_response(None, form.get("scope"))
        if grant == "refresh_token":
            if self.refresh_tokens.get(form.get("refresh_token") or "") != client_id:
                return 400, _error("invalid_grant", "Token has been expired or revoked.")
            return 200, self._token_response(None, form.get("scope"))
        return 400, _error("unsupported_grant_type", f"grant_type {grant!r} is not supported.")

    def _jwt_grant(self, request: TokenRequest, assertion: str) -> tuple[int, dict[str, Any]]:
        try:
            issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
            key = self.service_accounts[issuer]
            # google-auth always addresses the assertion to Google's token URI, wherever it sends it.
            claims = jwt.decode(assertion, key, algorithms=["RS256"], audience=GOOGLE_TOKEN_URI)
        except (jwt.PyJWTError, KeyError):
            self._record(request)
            return 400, _error("invalid_grant", "Invalid JWT Signature.")
        request.client_id, request.subject, request.scope, request.claims = issuer, claims.get("sub"), None, claims
        request.scope = claims.get("scope")
        self._record(request)
        if not request.subject:
            return 400, _error("invalid_grant", "Gmail needs domain-wide delegation: the assertion has no sub.")
        return 200, self._token_response(request.subject, None)

    def _token_response(self, subject: str | None, scope: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": self._issue(subject), "token_type": "Bearer"}
        body["expires_in"] = self.expires_in
        if scope:
            body["scope"] = scope
        return body


def _error(code: str, description: str) -> dict[str, str]:
    return {"error": code, "error_description": description}


class _Handler(BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the endpoint's records
        pass

    def do_GET(self) -> None:
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            self._send(200, self.server.endpoint._discovery(parts[0]))
        else:
            self._send(404, _error("not_found", self.path))

    def do_POST(self) -> None:
        endpoint: TokenEndpoint = self.server.endpoint
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        failure = endpoint._take_failure()
        if failure == "hang":
            endpoint._record(TokenRequest(self.path, form.get("grant_type"), form.get("client_id"), form.get("scope")))
            endpoint._release.wait(endpoint._max_hang)
            self.close_connection = True
            return
        if failure == "500":
            endpoint._record(TokenRequest(self.path, form.get("grant_type"), form.get("client_id"), form.get("scope")))
            self._send(500, {"error": "server_error"}, raw=b"<html>Internal Server Error</html>")
            return
        if failure in ("invalid_client", "invalid_grant"):
            endpoint._record(TokenRequest(self.path, form.get("grant_type"), form.get("client_id"), form.get("scope")))
            self._send(400 if failure == "invalid_grant" else 401, _error(failure, f"Scripted {failure}."))
            return
        status, answer = endpoint._answer(self.path, form, _basic(self.headers.get("Authorization")))
        self._send(status, answer)

    def _send(self, status: int, body: dict[str, Any], raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if raw is not None else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return unquote(user), unquote(password)
