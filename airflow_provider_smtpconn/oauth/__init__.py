"""OAuth2 token sources for ``auth_type: xoauth2``: Microsoft 365 (MSAL), Google (google-auth), any token URL
(Authlib).

A token source fetches an access token when first asked, keeps it in this process for its lifetime minus a safety
margin (:func:`refresh_margin`: 5 minutes, or a tenth of the lifetime for tokens that live less than 50 minutes),
and fetches a new one after that. Sources are shared: two hooks on the same connection in one process get the same
source object, so they share its token and its lock (:func:`token_source_from_extras`).

Which library talks to which endpoint, and why:

* ``microsoft``: MSAL's ``ConfidentialClientApplication`` (client-credentials grant), the library Microsoft
  maintains for Entra ID; it knows Entra's endpoints, discovery document and error shapes.
* ``google``: google-auth's service-account credentials (a signed JWT assertion, with domain-wide delegation to the
  login) or its user credentials (the refresh-token grant).
* ``token_url``: Authlib's requests ``OAuth2Session``, a maintained, spec-following RFC 6749 client (client
  credentials and refresh-token grants, client authentication, error responses parsed into ``error`` codes);
  requests-oauthlib was the other candidate, but it has had no release since 2024 and needs a separate client
  class per grant.

Failures become one-sentence errors naming the provider, the endpoint's host and the OAuth2 error code:
:class:`~airflow_provider_smtpconn.exceptions.TokenRefusedError` when retrying cannot help (``invalid_client``,
``invalid_grant``, other 4xx answers, an untrusted certificate) and
:class:`~airflow_provider_smtpconn.exceptions.TokenEndpointUnavailableError` when it may (timeouts, refused
connections, 5xx answers), which the transport retries within the connection's retry rules. Every secret (client
secret, refresh token, service-account key) and every fetched token is registered with Airflow's masker, and none
is ever put in an error or a log line.

The token endpoints are trusted like any HTTPS site requests talks to: the certifi store, or ``REQUESTS_CA_BUNDLE``;
certificate checks are never turned off here (``ignore_self_signed`` applies to the SMTP server only).
"""

from __future__ import annotations

from airflow_provider_smtpconn.oauth.base import (
    DEFAULT_LIFETIME,
    GOOGLE_SCOPE,
    GOOGLE_TOKEN_URL,
    MICROSOFT_AUTHORITY,
    MICROSOFT_SCOPE,
    PROVIDERS,
    AccessToken,
    TokenSource,
    refresh_margin,
)
from airflow_provider_smtpconn.oauth.sources import clear_token_sources, token_source_from_extras

__all__ = [
    "DEFAULT_LIFETIME",
    "GOOGLE_SCOPE",
    "GOOGLE_TOKEN_URL",
    "MICROSOFT_AUTHORITY",
    "MICROSOFT_SCOPE",
    "PROVIDERS",
    "AccessToken",
    "TokenSource",
    "clear_token_sources",
    "refresh_margin",
    "token_source_from_extras",
]
