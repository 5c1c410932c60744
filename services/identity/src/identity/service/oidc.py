"""The OpenID Connect provider (GOV.UK One Login profile).

Code flow only, PKCE S256 required, ``state`` and ``nonce`` required, exact
``redirect_uri`` match (RFC 6749 section 3.1.2.3; RFC 9700 section 2.1), the
``iss`` authorization response parameter (RFC 9207). ``vtr`` (RFC 8485: ``Cl``,
``Cl.Cm``, ``Cl.Cm.P2``; default ``Cl.Cm``) decides the sign-in a citizen needs;
the ID token's ``vot`` says the credential level reached.

Tokens: access tokens are ES256 JWTs (RFC 9068, ``typ: at+jwt``, 180 s) whose
``jti`` is recorded so that they can be revoked; refresh tokens are opaque,
stored hashed, single use and rotated; reuse of a refresh token or of an
authorization code revokes the whole grant (RFC 9700 sections 4.14 and 4.5).
Clients authenticate with ``private_key_jwt`` (RFC 7523: ``iss`` = ``sub`` =
client id, ``aud`` = issuer or token endpoint, ``exp``, single-use ``jti``) or,
in the sandbox, ``client_secret_basic``.

JOSE work (signing, verification, key sets) is joserfc's; this module applies
the protocol's rules.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import utcnow
from govkit.principal import Principal
from identity.context import Context
from identity.errors import OAuthError
from identity.models import (
    Account,
    AuthorizationCode,
    AuthorizationRequest,
    BrowserSession,
    ClientAssertionJti,
    Grant,
    IssuedToken,
    OAuthClient,
)
from identity.security import constant_time_equal, new_token, sha256_hex
from identity.service import signing
from identity.service.accounts.address import postal_address_in
from identity.service.credentials import get_oauth_client

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Algorithms accepted in client assertions (never ``none`` or an HMAC algorithm).
ASSERTION_ALGORITHMS = ["ES256", "PS256", "RS256", "EdDSA"]
#: How far in the future an ``iat`` may be (seconds): clock skew, no more.
MAX_FUTURE_IAT_SECONDS = 30
#: Longest accepted client assertion lifetime (seconds), so ``jti`` records can expire.
MAX_ASSERTION_LIFETIME_SECONDS = 600
VECTORS = {"Cl": ("Cl", None), "Cl.Cm": ("Cl.Cm", None), "Cl.Cm.P2": ("Cl.Cm", "P2")}
LEVEL_RANK = {"Cl": 1, "Cl.Cm": 2}
OIDC_SCOPES = {"openid", "email", "phone", "address", "offline_access"}
AUTHORIZATION_REQUEST_SECONDS = 1800
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def s256(verifier: str) -> str:
    """PKCE S256 transform (RFC 7636 section 4.2): BASE64URL(SHA256(verifier))."""
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest())
        .decode()
        .rstrip("=")
    )


def endpoints(issuer: str) -> dict[str, str]:
    """The provider's endpoint URLs under its issuer (the gateway's origin)."""
    return {
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "introspection_endpoint": f"{issuer}/introspect",
        "revocation_endpoint": f"{issuer}/revoke",
        "end_session_endpoint": f"{issuer}/logout",
    }


def discovery(issuer: str) -> dict:
    """OpenID Provider metadata (OIDC Discovery 1.0 section 3; RFC 8414)."""
    auth_methods = ["private_key_jwt", "client_secret_basic"]
    return {
        "issuer": issuer,
        **endpoints(issuer),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": [signing.ALGORITHM],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": sorted(OIDC_SCOPES),
        "claims_supported": [
            "sub",
            "email",
            "email_verified",
            "phone_number",
            "phone_number_verified",
            "address",
            "vot",
            "vtm",
        ],
        "vtr_values_supported": list(VECTORS),
        "authorization_response_iss_parameter_supported": True,
        "request_parameter_supported": False,
        "ui_locales_supported": ["en"],
        "trustmarks": f"{issuer}/trustmark",
    }


def _redirect(uri: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(uri).query else "?"
    return uri + separator + urlencode({k: v for k, v in params.items() if v is not None})


# -- /authorize ---------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizeOutcome:
    """What ``/authorize`` does next.

    Exactly one of: ``redirect`` (a URL: to the client with a code or an error, or
    to the sign-in pages) or ``error`` (shown to the user, never redirected:
    an unknown client or an unregistered redirect URI, RFC 6749 section 4.1.2.1).
    """

    redirect: str = ""
    error: OAuthError | None = None


async def authorize(
    session: AsyncSession, context: Context, params: dict[str, str]
) -> AuthorizeOutcome:
    """Validate an authorization request and store it while the citizen signs in.

    Returns an outcome whose redirect goes to ``/authorize/continue`` with the
    stored request's id, or to the client with an RFC 6749 error.
    """
    issuer = context.settings.issuer
    client = await get_oauth_client(session, client_id=params.get("client_id", ""))
    if client is None or client.revoked_at is not None:
        return AuthorizeOutcome(error=OAuthError("invalid_request", "unknown client_id"))
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris.split():
        return AuthorizeOutcome(
            error=OAuthError("invalid_request", "redirect_uri is not registered for this client")
        )
    state = params.get("state", "")

    def refuse(error: str, description: str) -> AuthorizeOutcome:
        return AuthorizeOutcome(
            redirect=_redirect(
                redirect_uri,
                {
                    "error": error,
                    "error_description": description,
                    "state": state or None,
                    "iss": issuer,
                },
            )
        )

    if "authorization_code" not in client.grant_types.split():
        return refuse("unauthorized_client", "this client may not use the authorization code flow")
    if params.get("response_type") != "code":
        return refuse("unsupported_response_type", "response_type must be code")
    if params.get("request") or params.get("request_uri"):
        return refuse("request_not_supported", "request objects are not supported")
    scopes = params.get("scope", "").split()
    if "openid" not in scopes:
        return refuse("invalid_scope", "scope must include openid")
    allowed = set(client.scopes.split()) | {"openid"}
    if any(s not in OIDC_SCOPES or s not in allowed for s in scopes):
        return refuse("invalid_scope", "a requested scope is not allowed for this client")
    if not state or len(state) > 1000:
        return refuse("invalid_request", "state is required (at most 1000 characters)")
    nonce = params.get("nonce", "")
    if not nonce or len(nonce) > 1000:
        return refuse("invalid_request", "nonce is required (at most 1000 characters)")
    challenge = params.get("code_challenge", "")
    if params.get("code_challenge_method") != "S256" or not _CHALLENGE.match(challenge):
        return refuse(
            "invalid_request", "PKCE is required: code_challenge with code_challenge_method S256"
        )
    try:
        credential_level, identity_level = _parse_vtr(params.get("vtr"))
    except (ValueError, RecursionError):
        return refuse("invalid_request", "Request vtr not valid")
    prompt = params.get("prompt") or None
    if prompt not in (None, "login", "none"):
        return refuse("invalid_request", "prompt must be none or login")
    max_age = params.get("max_age")
    if max_age is not None and (not max_age.isdigit() or len(max_age) > 9):
        return refuse("invalid_request", "max_age must be a whole number of seconds")
    request = AuthorizationRequest(
        id=new_token(24),
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scope=" ".join(dict.fromkeys(scopes)),
        state=state,
        nonce=nonce,
        code_challenge=challenge,
        credential_level=credential_level,
        identity_level=identity_level,
        prompt=prompt,
        max_age=int(max_age) if max_age is not None else None,
        created_at=utcnow(),
        expires_at=utcnow() + timedelta(seconds=AUTHORIZATION_REQUEST_SECONDS),
    )
    session.add(request)
    await session.flush()
    return AuthorizeOutcome(redirect=f"/authorize/continue?{urlencode({'request': request.id})}")


def _parse_vtr(raw: str | None) -> tuple[str, str | None]:
    """``vtr`` (a JSON array of vectors, RFC 8485 section 3) → (credential level,
    identity level). The first vector is the client's preference and is used.

    Raises:
        ValueError: not a JSON array of known vectors (``Cl.P2`` is not valid: P2 needs Cm).
    """
    if raw is None or raw == "":
        return VECTORS["Cl.Cm"]
    value = json.loads(raw) if raw.startswith("[") else None
    if (
        not isinstance(value, list)
        or not value
        or any(not isinstance(v, str) or v not in VECTORS for v in value)
    ):
        raise ValueError("invalid vtr")
    return VECTORS[value[0]]


@dataclass(frozen=True)
class ContinueOutcome:
    """After sign-in: ``redirect`` to the client, or to the page the citizen needs next."""

    redirect: str = ""
    error: OAuthError | None = None


async def continue_authorization(
    session: AsyncSession,
    context: Context,
    *,
    request_id: str,
    browser_session: BrowserSession | None,
) -> ContinueOutcome:
    """Finish an authorization once the citizen is signed in at the level it needs:
    issue the code and redirect to the client (with ``code``, ``state``, ``iss``).

    Otherwise redirect to sign-in, the second factor, or the identity check, which
    come back here with the same ``request``.
    """
    request = (
        await session.get(AuthorizationRequest, request_id, with_for_update=True)
        if request_id
        else None
    )
    if request is None or request.expires_at <= utcnow():
        return ContinueOutcome(
            error=OAuthError("invalid_request", "this sign-in request has expired or is unknown")
        )
    query = urlencode({"request": request.id})
    fresh_enough = browser_session is not None and (
        (request.prompt != "login" or browser_session.auth_time >= request.created_at)
        and (
            request.max_age is None
            or (utcnow() - browser_session.auth_time).total_seconds() <= request.max_age
        )
    )
    if request.prompt == "none" and (
        not fresh_enough
        or LEVEL_RANK.get(browser_session.auth_level, 0) < LEVEL_RANK[request.credential_level]
    ):
        await session.delete(request)
        params = {
            "error": "login_required",
            "error_description": "the citizen must sign in",
            "state": request.state,
        }
        return ContinueOutcome(
            redirect=_redirect(request.redirect_uri, {**params, "iss": context.settings.issuer})
        )
    if not fresh_enough:
        return ContinueOutcome(redirect=f"/sign-in?{query}")
    if LEVEL_RANK.get(browser_session.auth_level, 0) < LEVEL_RANK[request.credential_level]:
        return ContinueOutcome(redirect=f"/sign-in/second-factor?{query}")
    account = await session.get(Account, browser_session.account_id)
    if account is None:
        return ContinueOutcome(redirect=f"/sign-in?{query}")
    if request.identity_level == "P2" and account.identity_level != "P2":
        return ContinueOutcome(redirect=f"/identity-check?{query}")
    now = utcnow()
    grant = Grant(
        id=str(uuid.uuid4()),
        client_id=request.client_id,
        account_id=account.id,
        scope=request.scope,
        vot=request.credential_level,
        auth_time=browser_session.auth_time,
        created_at=now,
    )
    code = new_token(32)
    session.add(grant)
    await session.flush()
    session.add(
        AuthorizationCode(
            code_hash=sha256_hex(code),
            grant_id=grant.id,
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            nonce=request.nonce,
            code_challenge=request.code_challenge,
            session_id=browser_session.id_hash,
            expires_at=now + timedelta(seconds=context.settings.authorization_code_seconds),
        )
    )
    await session.delete(request)
    await session.flush()
    return ContinueOutcome(
        redirect=_redirect(
            request.redirect_uri,
            {"code": code, "state": request.state, "iss": context.settings.issuer},
        )
    )


# -- client authentication ------------------------------------------------------------


class ClientKeys:
    """Public keys of ``private_key_jwt`` clients: inline ``jwks``, or fetched from
    ``jwks_uri`` and cached for ``ttl`` seconds; an unknown ``kid`` causes at most
    one refetch per ``refetch_interval`` seconds per client (no refetch storm)."""

    def __init__(
        self,
        ttl: float = 86400,
        refetch_interval: float = 60,
        http: httpx.AsyncClient | None = None,
    ):
        self.ttl = ttl
        self.refetch_interval = refetch_interval
        self.http = http
        self._cache: dict[str, tuple[float, KeySet]] = {}
        self.fetches = 0

    async def key_set(self, client: OAuthClient, kid: str | None) -> KeySet:
        """The client's key set for a token naming ``kid``.

        Raises:
            OAuthError: ``invalid_client`` when no usable keys can be had.
        """
        if client.jwks:
            return KeySet.import_key_set(json.loads(client.jwks))
        if not client.jwks_uri:
            raise OAuthError("invalid_client", "the client has no public keys", status=401)
        now = time.monotonic()
        cached = self._cache.get(client.client_id)
        if cached is not None:
            fetched_at, keys = cached
            known = kid is None or any(k.kid == kid for k in keys.keys)
            if (known and now - fetched_at < self.ttl) or (
                not known and now - fetched_at < self.refetch_interval
            ):
                return keys
        try:
            http = self.http or httpx.AsyncClient(timeout=5)
            response = await http.get(client.jwks_uri)
            if self.http is None:
                await http.aclose()
            response.raise_for_status()
            keys = KeySet.import_key_set(response.json())
        except (
            httpx.HTTPError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            RecursionError,
            JoseError,
        ):
            # Remember the failure too: refused requests must not make us fetch again and again.
            self._cache[client.client_id] = (now, KeySet([]))
            raise OAuthError(
                "invalid_client", "the client's jwks_uri did not give a JWK Set", status=401
            ) from None
        self.fetches += 1
        self._cache[client.client_id] = (now, keys)
        return keys


async def authenticate_client(
    session: AsyncSession,
    context: Context,
    client_keys: ClientKeys,
    *,
    form: dict[str, str],
    authorization: str | None,
) -> OAuthClient:
    """Authenticate the client at the token, introspection and revocation endpoints.

    Raises:
        OAuthError: ``invalid_client`` (401) for any failure: unknown or revoked
            client, wrong secret, bad or replayed assertion, or two methods at once.
    """

    def refuse(description: str) -> OAuthError:
        return OAuthError("invalid_client", description, status=401)

    assertion = form.get("client_assertion")
    basic = (
        authorization[6:].strip()
        if authorization and authorization[:6].lower() == "basic "
        else None
    )
    if assertion and basic:
        raise refuse("use one client authentication method")
    if basic:
        try:
            raw_id, _, raw_secret = base64.b64decode(basic, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise refuse("malformed Basic credentials") from None
        from urllib.parse import unquote_plus

        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        client = await get_oauth_client(session, client_id=client_id)
        if (
            client is None
            or client.revoked_at is not None
            or client.auth_method != "client_secret_basic"
            or not client.secret_hash
            or not constant_time_equal(client.secret_hash, sha256_hex(secret))
        ):
            raise refuse("client authentication failed")
        if form.get("client_id") and form["client_id"] != client_id:
            raise refuse("client_id does not match the credentials")
        return client
    if not assertion:
        raise refuse("client authentication is required")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise refuse("client_assertion_type must be " + ASSERTION_TYPE)
    try:
        unverified = jws.extract_compact(assertion.encode())
        claims = json.loads(unverified.payload)
        header = unverified.protected
    except (JoseError, ValueError, TypeError, UnicodeDecodeError, RecursionError):
        raise refuse("client_assertion is not a JWT") from None
    if not isinstance(claims, dict):
        raise refuse("client_assertion is not a JWT")
    client_id = claims.get("iss")
    if not isinstance(client_id, str) or claims.get("sub") != client_id:
        raise refuse("client_assertion iss and sub must both be the client id")
    if form.get("client_id") and form["client_id"] != client_id:
        raise refuse("client_id does not match the assertion")
    client = await get_oauth_client(session, client_id=client_id)
    if client is None or client.revoked_at is not None or client.auth_method != "private_key_jwt":
        raise refuse("client authentication failed")
    if header.get("alg") not in ASSERTION_ALGORITHMS or header.get("typ") == "at+jwt":
        raise refuse("client_assertion algorithm or type not allowed")
    if not isinstance(header.get("kid", ""), str):
        raise refuse("client_assertion kid must be a string")
    keys = await client_keys.key_set(client, header.get("kid"))
    try:
        token = jwt.decode(assertion, keys, algorithms=ASSERTION_ALGORITHMS)
    except JoseError:
        raise refuse("client_assertion signature is not valid") from None
    issuer = context.settings.issuer
    audiences = {issuer, endpoints(issuer)["token_endpoint"]}
    now = int(time.time())
    try:
        JWTClaimsRegistry(
            now=now,
            leeway=5,
            iss={"essential": True, "value": client_id},
            sub={"essential": True, "value": client_id},
            exp={"essential": True},
            jti={"essential": True},
        ).validate(token.claims)
    except JoseError:
        raise refuse("client_assertion claims are not valid") from None
    aud = token.claims.get("aud")
    aud_values = aud if isinstance(aud, list) else [aud]
    if not any(a in audiences for a in aud_values):
        raise refuse("client_assertion aud must be the issuer or the token endpoint")
    issued_at = token.claims.get("iat")
    if issued_at is not None and (
        not isinstance(issued_at, int | float) or issued_at > now + MAX_FUTURE_IAT_SECONDS
    ):
        raise refuse("client_assertion iat is in the future")
    expires = token.claims["exp"]
    if not isinstance(expires, int | float) or expires > now + MAX_ASSERTION_LIFETIME_SECONDS:
        raise refuse(
            f"client_assertion exp is more than {MAX_ASSERTION_LIFETIME_SECONDS} seconds ahead:"
            f" sign assertions that expire within {MAX_ASSERTION_LIFETIME_SECONDS // 60} minutes"
        )
    jti = token.claims["jti"]
    if not isinstance(jti, str) or not 1 <= len(jti) <= 255:
        raise refuse("client_assertion jti must be a string of at most 255 characters")
    session.add(
        ClientAssertionJti(
            client_id=client_id,
            jti=jti,
            expires_at=utcnow() + timedelta(seconds=expires - now + 60),
        )
    )
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise refuse("client_assertion jti has been used before") from None
    return client


# -- tokens ---------------------------------------------------------------------------


async def _access_token(
    session: AsyncSession, context: Context, *, grant: Grant, client: OAuthClient, subject: str
) -> str:
    kid, key = await signing.active_private_key(session, context.box)
    now = int(time.time())
    jti = str(uuid.uuid4())
    claims = {
        "iss": context.settings.issuer,
        "sub": subject,
        "aud": context.settings.issuer,
        "client_id": client.client_id,
        "scope": grant.scope,
        "iat": now,
        "exp": now + context.settings.access_token_seconds,
        "jti": jti,
    }
    if grant.vot:
        claims["vot"] = grant.vot
    session.add(
        IssuedToken(
            id=jti,
            kind="access",
            grant_id=grant.id,
            expires_at=utcnow() + timedelta(seconds=context.settings.access_token_seconds),
        )
    )
    return jwt.encode({"alg": signing.ALGORITHM, "kid": kid, "typ": "at+jwt"}, claims, key)


def _subject(context: Context, client: OAuthClient, account_id: str) -> str:
    """Pairwise subject: the sector is the host of the client's first redirect URI."""
    sector = (
        urlsplit(client.redirect_uris.split()[0]).hostname
        if client.redirect_uris
        else client.client_id
    )
    return context.box.pairwise_subject(sector or client.client_id, account_id)


async def _id_token(
    session: AsyncSession,
    context: Context,
    *,
    grant: Grant,
    client: OAuthClient,
    nonce: str | None,
    sid: str,
) -> str:
    kid, key = await signing.active_private_key(session, context.box)
    now = int(time.time())
    claims = {
        "iss": context.settings.issuer,
        "sub": _subject(context, client, grant.account_id),
        "aud": client.client_id,
        "iat": now,
        "exp": now + context.settings.id_token_seconds,
        "vot": grant.vot,
        "vtm": f"{context.settings.issuer}/trustmark",
        "sid": sid,
        "auth_time": int(grant.auth_time.timestamp()) if grant.auth_time else now,
    }
    if nonce:
        claims["nonce"] = nonce
    return jwt.encode({"alg": signing.ALGORITHM, "kid": kid, "typ": "JWT"}, claims, key)


async def _refresh_token(session: AsyncSession, context: Context, *, grant: Grant) -> str:
    token = new_token(32)
    session.add(
        IssuedToken(
            id=sha256_hex(token),
            kind="refresh",
            grant_id=grant.id,
            expires_at=utcnow() + timedelta(seconds=context.settings.refresh_token_seconds),
        )
    )
    return token


async def revoke_grant(session: AsyncSession, grant_id: str) -> None:
    """Revoke a grant and every token issued from it."""
    now = utcnow()
    await session.execute(
        update(Grant).where(Grant.id == grant_id, Grant.revoked_at.is_(None)).values(revoked_at=now)
    )
    await session.execute(
        update(IssuedToken)
        .where(IssuedToken.grant_id == grant_id, IssuedToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def token(
    session: AsyncSession,
    context: Context,
    client_keys: ClientKeys,
    *,
    form: dict[str, str],
    authorization: str | None,
) -> dict:
    """The token endpoint (RFC 6749 section 3.2): authenticate the client, then run its grant.

    Returns:
        The token response: ``access_token``, ``token_type`` (``Bearer``),
        ``expires_in`` (seconds), ``scope``, and ``id_token`` / ``refresh_token``
        where the grant gives them.

    Raises:
        OAuthError: ``invalid_client``, ``invalid_grant``, ``invalid_request``,
            ``unauthorized_client``, ``invalid_scope`` or ``unsupported_grant_type``.
            An error after a reused code or refresh token is raised only after the
            grant's revocation is written (the caller commits before answering).
    """
    client = await authenticate_client(
        session, context, client_keys, form=form, authorization=authorization
    )
    grant_type = form.get("grant_type", "")
    if grant_type not in ("authorization_code", "refresh_token", "client_credentials"):
        raise OAuthError(
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token or client_credentials",
        )
    if grant_type not in client.grant_types.split():
        raise OAuthError("unauthorized_client", f"this client may not use {grant_type}")
    if grant_type == "authorization_code":
        return await _code_grant(session, context, client, form)
    if grant_type == "refresh_token":
        return await _refresh_grant(session, context, client, form)
    return await _client_credentials_grant(session, context, client, form)


class ReusedCredential(OAuthError):
    """A code or refresh token used twice: the grant is revoked, and that must be
    committed although an error is returned."""


async def _code_grant(
    session: AsyncSession, context: Context, client: OAuthClient, form: dict[str, str]
) -> dict:
    code = form.get("code", "")
    stored = (
        await session.get(AuthorizationCode, sha256_hex(code), with_for_update=True)
        if code
        else None
    )
    if stored is None or stored.client_id != client.client_id:
        raise OAuthError("invalid_grant", "the authorization code is not valid")
    if stored.used_at is not None:
        await revoke_grant(session, stored.grant_id)
        raise ReusedCredential("invalid_grant", "the authorization code has been used already")
    if stored.expires_at <= utcnow():
        raise OAuthError("invalid_grant", "the authorization code has expired")
    if form.get("redirect_uri") != stored.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
    verifier = form.get("code_verifier", "")
    if not verifier:
        raise OAuthError("invalid_grant", "code_verifier is required (PKCE)")
    if not _VERIFIER.match(verifier) or not constant_time_equal(
        s256(verifier), stored.code_challenge
    ):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
    stored.used_at = utcnow()
    grant = await session.get(Grant, stored.grant_id)
    if grant is None or grant.revoked_at is not None:
        raise OAuthError("invalid_grant", "the authorization has been revoked")
    subject = _subject(context, client, grant.account_id)
    response = {
        "access_token": await _access_token(
            session, context, grant=grant, client=client, subject=subject
        ),
        "token_type": "Bearer",
        "expires_in": context.settings.access_token_seconds,
        "scope": grant.scope,
        "id_token": await _id_token(
            session,
            context,
            grant=grant,
            client=client,
            nonce=stored.nonce,
            sid=stored.session_id[:32],
        ),
    }
    if "offline_access" in grant.scope.split():
        response["refresh_token"] = await _refresh_token(session, context, grant=grant)
    await session.flush()
    return response


async def _refresh_grant(
    session: AsyncSession, context: Context, client: OAuthClient, form: dict[str, str]
) -> dict:
    presented = form.get("refresh_token", "")
    stored = (
        await session.get(IssuedToken, sha256_hex(presented), with_for_update=True)
        if presented
        else None
    )
    if stored is None or stored.kind != "refresh":
        raise OAuthError("invalid_grant", "the refresh token is not valid")
    grant = await session.get(Grant, stored.grant_id)
    if grant is None or grant.client_id != client.client_id:
        raise OAuthError("invalid_grant", "the refresh token is not valid")
    if stored.used_at is not None:
        await revoke_grant(session, grant.id)
        raise ReusedCredential("invalid_grant", "the refresh token has been used already")
    if (
        stored.revoked_at is not None
        or grant.revoked_at is not None
        or stored.expires_at <= utcnow()
    ):
        raise OAuthError("invalid_grant", "the refresh token has expired or been revoked")
    requested = form.get("scope", "").split()
    if requested and not set(requested) <= set(grant.scope.split()):
        raise OAuthError("invalid_scope", "a refresh may not widen the scope")
    stored.used_at = utcnow()
    subject = _subject(context, client, grant.account_id)
    response = {
        "access_token": await _access_token(
            session, context, grant=grant, client=client, subject=subject
        ),
        "token_type": "Bearer",
        "expires_in": context.settings.access_token_seconds,
        "scope": grant.scope,
        "refresh_token": await _refresh_token(session, context, grant=grant),
        "id_token": await _id_token(
            session, context, grant=grant, client=client, nonce=None, sid=""
        ),
    }
    await session.flush()
    return response


async def _client_credentials_grant(
    session: AsyncSession, context: Context, client: OAuthClient, form: dict[str, str]
) -> dict:
    allowed = [s for s in client.scopes.split() if s not in OIDC_SCOPES]
    requested = form.get("scope", "").split() or allowed
    if not set(requested) <= set(allowed):
        raise OAuthError("invalid_scope", "a requested scope is not allowed for this client")
    grant = Grant(
        id=str(uuid.uuid4()),
        client_id=client.client_id,
        account_id=None,
        scope=" ".join(requested),
        created_at=utcnow(),
    )
    session.add(grant)
    await session.flush()
    access_token = await _access_token(
        session, context, grant=grant, client=client, subject=client.client_id
    )
    await session.flush()
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": context.settings.access_token_seconds,
        "scope": grant.scope,
    }


# -- verifying access tokens ------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedToken:
    """A valid access token: its claims and the grant behind it."""

    claims: dict
    grant: Grant


async def verify_access_token(
    session: AsyncSession, context: Context, keys: signing.KeyCache, token: str
) -> VerifiedToken:
    """Check an access token completely (RFC 8725; RFC 9068 section 4).

    ES256 only (so ``none`` and HMAC tokens made with a public key are refused),
    a key this provider publishes (an unknown ``kid`` reloads the keys at most once
    per interval), ``typ`` ``at+jwt`` (an ID token is not an access token), exact
    ``iss`` and ``aud``, ``exp`` in the future, ``iat`` not more than 30 s ahead,
    and neither the token nor its grant revoked.

    Raises:
        OAuthError: ``invalid_token`` (401).
    """

    def refuse(description: str) -> OAuthError:
        return OAuthError("invalid_token", description, status=401)

    if not token or len(token) > 8192:
        raise refuse("the access token is missing or too long")
    try:
        header = jws.extract_compact(token.encode()).protected
    except (JoseError, ValueError, TypeError, UnicodeDecodeError, RecursionError):
        raise refuse("the access token is not a JWT") from None
    if not isinstance(header.get("kid"), str):
        raise refuse("the access token has no usable kid")
    if header.get("alg") != signing.ALGORITHM:
        raise refuse("the access token algorithm is not allowed")
    if header.get("typ") != "at+jwt":
        raise refuse("the token is not an access token")
    key_set = await keys.key_set(header.get("kid"))
    try:
        decoded = jwt.decode(token, key_set, algorithms=[signing.ALGORITHM])
    except JoseError:
        raise refuse("the access token signature is not valid") from None
    now = int(time.time())
    issuer = context.settings.issuer
    try:
        JWTClaimsRegistry(
            now=now,
            leeway=0,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": issuer},
            exp={"essential": True},
            jti={"essential": True},
            sub={"essential": True},
        ).validate(decoded.claims)
    except JoseError:
        raise refuse("the access token is expired or not for this audience") from None
    issued_at = decoded.claims.get("iat")
    if not isinstance(issued_at, int | float) or issued_at > now + MAX_FUTURE_IAT_SECONDS:
        raise refuse("the access token iat is missing or in the future")
    record = await session.get(IssuedToken, str(decoded.claims["jti"]))
    if record is None or record.kind != "access" or record.revoked_at is not None:
        raise refuse("the access token has been revoked")
    grant = await session.get(Grant, record.grant_id)
    if grant is None or grant.revoked_at is not None:
        raise refuse("the access token has been revoked")
    return VerifiedToken(claims=decoded.claims, grant=grant)


async def principal_for_access_token(
    session: AsyncSession, context: Context, keys: signing.KeyCache, token: str
) -> Principal:
    """The gateway's principal for an access token (see :func:`verify_access_token`)."""
    verified = await verify_access_token(session, context, keys, token)
    client = await get_oauth_client(session, client_id=verified.grant.client_id)
    if client is None or client.revoked_at is not None:
        raise OAuthError("invalid_token", "the client has been revoked", status=401)
    return Principal(
        organisation_id=client.organisation_id,
        service_id=client.service_id or "",
        key_type="live",
        scopes=tuple(verified.grant.scope.split()),
        credential_id=str(verified.claims["jti"]),
        api="oauth",
        client_id=client.client_id,
        subject=str(verified.claims["sub"]),
    )


async def userinfo(
    session: AsyncSession, context: Context, keys: signing.KeyCache, token: str
) -> dict:
    """The UserInfo response (OIDC Core section 5.3) for a citizen's access token.

    Raises:
        OAuthError: ``invalid_token`` (401) or ``insufficient_scope`` (403).
    """
    verified = await verify_access_token(session, context, keys, token)
    grant = verified.grant
    scopes = grant.scope.split()
    if grant.account_id is None or "openid" not in scopes:
        raise OAuthError(
            "insufficient_scope", "the token was not issued for a signed-in citizen", status=403
        )
    account = await session.get(Account, grant.account_id)
    if account is None:
        raise OAuthError("invalid_token", "the account no longer exists", status=401)
    claims: dict = {"sub": verified.claims["sub"]}
    if "email" in scopes:
        claims["email"] = account.email
        claims["email_verified"] = account.email_verified_at is not None
    if "phone" in scopes and account.phone_number:
        claims["phone_number"] = account.phone_number
        claims["phone_number_verified"] = account.mfa_method == "sms"
    if "address" in scopes:
        address = await postal_address_in(session, account.id)
        if address is not None:
            claims["address"] = address.claim()
    return claims


# -- introspection and revocation --------------------------------------------------------


async def _find_token(
    session: AsyncSession, context: Context, keys: signing.KeyCache, token: str
) -> tuple[Grant | None, IssuedToken | None, dict]:
    """Find an access token (JWT) or a refresh token (opaque); (grant, record, claims)."""
    if token.count(".") == 2:
        try:
            verified = await verify_access_token(session, context, keys, token)
        except OAuthError:
            return None, None, {}
        return (
            verified.grant,
            await session.get(IssuedToken, str(verified.claims["jti"])),
            verified.claims,
        )
    record = await session.get(IssuedToken, sha256_hex(token))
    if record is None or record.kind != "refresh":
        return None, None, {}
    return await session.get(Grant, record.grant_id), record, {}


async def introspect(
    session: AsyncSession,
    context: Context,
    keys: signing.KeyCache,
    client: OAuthClient,
    *,
    token: str,
) -> dict:
    """RFC 7662 introspection for an authenticated client, of its own tokens only.

    Returns ``{"active": false}`` and nothing else for anything not active.
    """
    if not token:
        raise OAuthError("invalid_request", "token is required")
    grant, record, claims = await _find_token(session, context, keys, token)
    inactive = {"active": False}
    if grant is None or record is None or grant.client_id != client.client_id:
        return inactive
    if (
        grant.revoked_at is not None
        or record.revoked_at is not None
        or record.expires_at <= utcnow()
    ):
        return inactive
    if record.kind == "refresh" and record.used_at is not None:
        return inactive
    answer = {
        "active": True,
        "client_id": grant.client_id,
        "scope": grant.scope,
        "token_type": "Bearer" if record.kind == "access" else "refresh_token",
        "exp": int(record.expires_at.timestamp()),
        "iss": context.settings.issuer,
    }
    if claims:
        answer.update(
            {"sub": claims["sub"], "aud": claims["aud"], "iat": claims["iat"], "jti": claims["jti"]}
        )
    return answer


async def revoke(
    session: AsyncSession,
    context: Context,
    keys: signing.KeyCache,
    client: OAuthClient,
    *,
    token: str,
) -> None:
    """RFC 7009 revocation. Unknown or invalid tokens are ignored (the endpoint still
    answers 200); revoking a refresh token revokes its grant's access tokens too.

    A token issued to another client is left alone and answered the same way, so
    that the endpoint tells no client anything about another's tokens.

    Raises:
        OAuthError: ``invalid_request`` when ``token`` is missing.
    """
    if not token:
        raise OAuthError("invalid_request", "token is required")
    grant, record, _ = await _find_token(session, context, keys, token)
    if grant is None or record is None or grant.client_id != client.client_id:
        return  # unknown, or another client's: answered like an unknown token (RFC 7009 section 2.2)
    if record.kind == "refresh":
        await revoke_grant(session, grant.id)
    else:
        record.revoked_at = utcnow()
    await session.flush()


# -- logout ------------------------------------------------------------------------------


async def logout(
    session: AsyncSession,
    context: Context,
    keys: signing.KeyCache,
    *,
    params: dict[str, str],
    browser_session: BrowserSession | None,
) -> str | None:
    """RP-initiated logout (OIDC RP-Initiated Logout 1.0): end the citizen's sessions;
    returns where to send the browser (the client's registered
    ``post_logout_redirect_uri`` with ``state``), or ``None`` for the signed-out page.

    Raises:
        OAuthError: ``invalid_request`` for a ``post_logout_redirect_uri`` without a
            valid ``id_token_hint``, or one not registered for that client.
    """
    hint = params.get("id_token_hint", "")
    target = params.get("post_logout_redirect_uri")
    if not hint:
        if target:
            raise OAuthError(
                "invalid_request", "post_logout_redirect_uri needs a valid id_token_hint"
            )
        return None
    try:
        header = jws.extract_compact(hint.encode()).protected
        decoded = jwt.decode(
            hint, await keys.key_set(header.get("kid")), algorithms=[signing.ALGORITHM]
        )
        if decoded.claims.get("iss") != context.settings.issuer or header.get("typ") == "at+jwt":
            raise ValueError("not one of our ID tokens")
    except (JoseError, ValueError, TypeError, UnicodeDecodeError, RecursionError):
        raise OAuthError(
            "invalid_request", "id_token_hint is not a valid ID token from this provider"
        ) from None
    client = await get_oauth_client(session, client_id=str(decoded.claims.get("aud", "")))
    if target and (client is None or target not in client.post_logout_redirect_uris.split()):
        raise OAuthError(
            "invalid_request", "post_logout_redirect_uri is not registered for this client"
        )
    if browser_session is not None:
        await session.execute(
            update(BrowserSession)
            .where(
                BrowserSession.account_id == browser_session.account_id,
                BrowserSession.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
    if not target:
        return None
    state = params.get("state")
    return _redirect(target, {"state": state} if state else {})
