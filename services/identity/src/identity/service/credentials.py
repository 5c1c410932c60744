"""Agencies, their services and credentials, and verifying what callers present.

Key formats:

- Notify (GOV.UK Notify v2): ``{name}-{service_id}-{secret}``; ``service_id`` and
  ``secret`` are UUIDs. The client signs an HS256 JWT (``iss`` = service id,
  ``iat``) with the secret. Verifying HMAC needs the secret itself, so it is kept
  encrypted (and hashed, to find duplicates); it is never shown again.
- Payments (GOV.UK Pay v1): ``api_{live|test}_{random}``: an opaque bearer key,
  stored only as its SHA-256 hash; the prefix makes a leaked key recognisable.
- OAuth clients: ``private_key_jwt`` (public keys only) or ``client_secret_basic``
  (secret stored as a hash).
"""

from __future__ import annotations

import base64
import json
import math
import re
import unicodedata
import uuid
from datetime import datetime, timedelta

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import KeySet, OctKey
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import utcnow
from govkit.errors import ConflictError, InvalidArgumentError, NotFoundError
from govkit.outbox import add_event
from govkit.principal import Principal
from govplat.identity.v1 import events_pb2
from identity import models
from identity.context import Context
from identity.errors import CredentialError, NotifyAuthError
from identity.models import ApiKey, OAuthClient, Organisation, Service
from identity.security import SecretBox, new_token, sha256_hex

KEY_TYPES = ("live", "test", "team")
APIS = ("notify", "payments")
AUTH_METHODS = ("private_key_jwt", "client_secret_basic")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
#: Scopes a client may be given: OIDC's, and the platform's API scopes.
SCOPE_PATTERN = re.compile(
    r"^(openid|email|phone|address|offline_access|notify:(send|read)|payments:(read|write)|registers:write:[a-z0-9-]{1,64})$"
)
#: Notify accepts a token signed by a key revoked in the last 7 days, to say "revoked".
NOTIFY_REVOKED_KEY_WINDOW = timedelta(days=7)
#: Notify's clock tolerance for ``iat`` (seconds, both directions).
NOTIFY_IAT_WINDOW_SECONDS = 30
NOTIFY_TOKEN_HELP = (
    "Invalid token: make sure your API token matches the example at "
    "https://docs.notifications.service.gov.uk/rest-api.html#authorisation-header"
)
SCOPES_BY_API = {
    "notify": ("notify:send", "notify:read"),
    "payments": ("payments:read", "payments:write"),
}


def _page(token: str, size: int) -> tuple[int, int]:
    """Decode an offset page token and clamp the page size (AIP-158: 0 → 50, max 500)."""
    if size < 0:
        raise InvalidArgumentError("INVALID_PAGE_SIZE", "page_size must not be negative")
    size = 50 if size == 0 else min(size, 500)
    if not token:
        return 0, size
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgumentError(
            "INVALID_PAGE_TOKEN", "page_token is not one this service issued"
        ) from None
    if not 0 <= offset <= 10**9:
        raise InvalidArgumentError(
            "INVALID_PAGE_TOKEN", "page_token is not one this service issued"
        )
    return offset, size


def _next_token(offset: int, size: int, returned: int) -> str:
    return (
        base64.urlsafe_b64encode(str(offset + size).encode()).decode() if returned == size else ""
    )


def _name(value: str, what: str) -> str:
    """A trimmed name of 1 to 255 printable characters (no control or bidi-override characters).

    Raises:
        InvalidArgumentError: ``INVALID_<WHAT>_NAME``.
    """
    value = (value or "").strip()
    if not value or len(value) > 255 or any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
        raise InvalidArgumentError(
            f"INVALID_{what.upper()}_NAME", f"{what} name must be 1 to 255 printable characters"
        )
    return value


# -- organisations and services ---------------------------------------------------


async def create_organisation(session: AsyncSession, *, name: str) -> Organisation:
    """Create an agency.

    Raises:
        InvalidArgumentError: empty or over-long name.
        ConflictError: an organisation with that name exists (``ORGANISATION_EXISTS``).
    """
    organisation = Organisation(
        id=str(uuid.uuid4()), name=_name(name, "organisation"), created_at=utcnow()
    )
    session.add(organisation)
    try:
        await session.flush()
    except IntegrityError:
        raise ConflictError(
            "ORGANISATION_EXISTS", "an organisation with this name exists"
        ) from None
    return organisation


async def get_organisation(session: AsyncSession, *, organisation_id: str) -> Organisation:
    """Raises ``NotFoundError`` (``ORGANISATION_NOT_FOUND``)."""
    found = await session.get(Organisation, organisation_id)
    if found is None:
        raise NotFoundError("ORGANISATION_NOT_FOUND", "no organisation has this id")
    return found


async def find_organisation_by_name(session: AsyncSession, *, name: str) -> Organisation | None:
    """The organisation with this exact name, if any."""
    return await session.scalar(select(Organisation).where(Organisation.name == name))


async def list_organisations(
    session: AsyncSession, *, page_size: int = 0, page_token: str = ""
) -> tuple[list[Organisation], str]:
    """Organisations oldest first, one page; returns them and the next page token ('' at the end)."""
    offset, size = _page(page_token, page_size)
    rows = list(
        (
            await session.scalars(
                select(Organisation)
                .order_by(Organisation.created_at, Organisation.id)
                .offset(offset)
                .limit(size)
            )
        ).all()
    )
    return rows, _next_token(offset, size, len(rows))


async def create_service(session: AsyncSession, *, organisation_id: str, name: str) -> Service:
    """Create a service of an organisation. Raises ``NotFoundError`` for an unknown organisation."""
    await get_organisation(session, organisation_id=organisation_id)
    service = Service(
        id=str(uuid.uuid4()),
        organisation_id=organisation_id,
        name=_name(name, "service"),
        created_at=utcnow(),
    )
    session.add(service)
    await session.flush()
    return service


async def get_service(session: AsyncSession, *, service_id: str) -> Service:
    """Raises ``NotFoundError`` (``SERVICE_NOT_FOUND``)."""
    found = await session.get(Service, service_id)
    if found is None:
        raise NotFoundError("SERVICE_NOT_FOUND", "no service has this id")
    return found


async def list_services(
    session: AsyncSession, *, organisation_id: str = "", page_size: int = 0, page_token: str = ""
) -> tuple[list[Service], str]:
    """Services oldest first (of one organisation when given), one page."""
    offset, size = _page(page_token, page_size)
    query = select(Service).order_by(Service.created_at, Service.id)
    if organisation_id:
        query = query.where(Service.organisation_id == organisation_id)
    rows = list((await session.scalars(query.offset(offset).limit(size))).all())
    return rows, _next_token(offset, size, len(rows))


# -- API keys -----------------------------------------------------------------------


def _key_slug(name: str) -> str:
    """Notify's key-name part: lower case, spaces to underscores, other symbols dropped."""
    slug = re.sub(r"[^a-z0-9_]", "", name.strip().lower().replace(" ", "_").replace("-", "_"))
    return slug or "key"


async def create_api_key(
    session: AsyncSession, box: SecretBox, *, service_id: str, name: str, api: str, key_type: str
) -> tuple[ApiKey, str]:
    """Create an API key; returns the stored key and the key string (shown once).

    Raises:
        InvalidArgumentError: unknown ``api``/``key_type``, or ``team`` for payments.
        NotFoundError: unknown service.
    """
    if api not in APIS:
        raise InvalidArgumentError("INVALID_API", "api must be notify or payments")
    if key_type not in KEY_TYPES:
        raise InvalidArgumentError("INVALID_KEY_TYPE", "key_type must be live, test or team")
    if api == "payments" and key_type == "team":
        raise InvalidArgumentError("INVALID_KEY_TYPE", "team keys exist only for the notify API")
    service = await get_service(session, service_id=service_id)
    name = _name(name, "key")
    if api == "notify":
        secret = str(uuid.uuid4())
        key_string = f"{_key_slug(name)}-{service.id}-{secret}"
        stored = ApiKey(
            prefix=_key_slug(name)[:32],
            secret_hash=sha256_hex(secret),
            secret_encrypted=box.encrypt(secret),
        )
    else:
        key_string = f"api_{key_type}_{new_token(30)}"
        stored = ApiKey(
            prefix=key_string[:16], secret_hash=sha256_hex(key_string), secret_encrypted=None
        )
    stored.id = str(uuid.uuid4())
    stored.service_id = service.id
    stored.name = name
    stored.api = api
    stored.key_type = key_type
    stored.created_at = utcnow()
    session.add(stored)
    await session.flush()
    return stored, key_string


async def list_api_keys(session: AsyncSession, *, service_id: str) -> list[ApiKey]:
    """A service's keys, newest first (never their secrets)."""
    await get_service(session, service_id=service_id)
    return list(
        (
            await session.scalars(
                select(ApiKey)
                .where(ApiKey.service_id == service_id)
                .order_by(ApiKey.created_at.desc())
            )
        ).all()
    )


async def revoke_api_key(session: AsyncSession, context: Context, *, api_key_id: str) -> ApiKey:
    """Revoke a key (idempotent) and emit ``ApiKeyRevoked``. Raises ``NotFoundError``."""
    key = await session.get(ApiKey, api_key_id, with_for_update=True)
    if key is None:
        raise NotFoundError("API_KEY_NOT_FOUND", "no API key has this id")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        event = events_pb2.ApiKeyRevoked(api_key_id=key.id, service_id=key.service_id)
        await add_event(session, models.messaging, event, source=context.source, subject=key.id)
        await session.flush()
    return key


async def _principal_for_key(session: AsyncSession, key: ApiKey) -> Principal:
    service = await get_service(session, service_id=key.service_id)
    return Principal(
        organisation_id=service.organisation_id,
        service_id=service.id,
        key_type=key.key_type,
        scopes=SCOPES_BY_API[key.api],
        credential_id=key.id,
        api=key.api,
    )


async def verify_payments_key(session: AsyncSession, *, key: str) -> Principal:
    """The principal of a payments-style bearer key.

    Raises:
        CredentialError: ``INVALID_API_KEY`` for an unknown, malformed or revoked key
            (one answer for all, so a caller learns nothing about which).
    """
    if not re.fullmatch(r"api_(live|test)_[A-Za-z0-9_-]{20,80}", key or ""):
        raise CredentialError("INVALID_API_KEY", "the API key is not valid")
    stored = await session.scalar(
        select(ApiKey).where(ApiKey.secret_hash == sha256_hex(key), ApiKey.api == "payments")
    )
    if stored is None or stored.revoked_at is not None:
        raise CredentialError("INVALID_API_KEY", "the API key is not valid")
    return await _principal_for_key(session, stored)


async def verify_notify_jwt(
    session: AsyncSession, box: SecretBox, *, token: str, now: datetime | None = None
) -> Principal:
    """The principal of a GOV.UK Notify request token (the part after ``Bearer ``).

    Follows Notify's order of checks and messages: ``iss`` must be there and be a
    service id; the service must exist, be active and have keys; HS256 only; each
    of the service's keys (active, or revoked in the last 7 days) is tried; ``iat``
    must be within 30 seconds of now; a matching revoked key is refused as revoked.

    Raises:
        NotifyAuthError: 403 with Notify's message.
    """
    now = now or utcnow()
    try:
        compact = jws.extract_compact(token.encode())
        header = compact.protected
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeDecodeError, TypeError, RecursionError):
        raise NotifyAuthError(NOTIFY_TOKEN_HELP) from None
    if not isinstance(claims, dict):
        raise NotifyAuthError(NOTIFY_TOKEN_HELP)
    issuer = claims.get("iss")
    if not issuer:
        raise NotifyAuthError("Invalid token: iss field not provided")
    try:
        service_id = str(uuid.UUID(str(issuer)))
    except ValueError:
        raise NotifyAuthError("Invalid token: service id is not the right data type") from None
    if service_id != issuer:  # only the canonical form the key string carries
        raise NotifyAuthError("Invalid token: service id is not the right data type")
    service = await session.get(Service, service_id)
    if service is None:
        raise NotifyAuthError("Invalid token: service not found")
    cutoff = now - NOTIFY_REVOKED_KEY_WINDOW
    keys = (
        await session.scalars(
            select(ApiKey).where(
                ApiKey.service_id == service_id,
                ApiKey.api == "notify",
                or_(ApiKey.revoked_at.is_(None), ApiKey.revoked_at > cutoff),
            )
        )
    ).all()
    if not keys:
        raise NotifyAuthError("Invalid token: service has no API keys")
    if not service.active:
        raise NotifyAuthError("Invalid token: service is archived")
    if header.get("alg") != "HS256":
        raise NotifyAuthError("Invalid token: algorithm used is not HS256")
    for key in keys:
        secret = OctKey.import_key(box.decrypt(key.secret_encrypted))
        try:
            decoded = jwt.decode(token, secret, algorithms=["HS256"])
        except BadSignatureError:
            continue
        except JoseError:
            raise NotifyAuthError(NOTIFY_TOKEN_HELP) from None
        issued_at = decoded.claims.get("iat")
        if not isinstance(issued_at, int | float) or isinstance(issued_at, bool):
            continue  # Notify's quirk: a token without iat ends as "API key not found"
        if not math.isfinite(issued_at):  # NaN would slip through every comparison
            raise NotifyAuthError(NOTIFY_TOKEN_HELP)
        if abs(now.timestamp() - issued_at) > NOTIFY_IAT_WINDOW_SECONDS:
            raise NotifyAuthError("Error: Your system clock must be accurate to within 30 seconds")
        expires = decoded.claims.get("exp")
        if expires is not None and (
            not isinstance(expires, int | float)
            or not math.isfinite(expires)
            or expires < now.timestamp()
        ):
            raise NotifyAuthError(NOTIFY_TOKEN_HELP)
        if key.revoked_at is not None:
            raise NotifyAuthError("Invalid token: API key revoked")
        return await _principal_for_key(session, key)
    raise NotifyAuthError("Invalid token: API key not found")


# -- OAuth clients ----------------------------------------------------------------


def _split(values: list[str] | str) -> list[str]:
    if isinstance(values, str):
        values = values.split()
    return [v.strip() for v in values if v and v.strip()]


def _valid_redirect_uri(uri: str) -> bool:
    """Absolute https URI, or http on a loopback host (native/local apps, RFC 8252);
    no fragment (RFC 6749 section 3.1.2)."""
    if len(uri) > 2000 or "#" in uri or "@" in uri.split("?")[0] or any(ord(c) < 33 for c in uri):
        return False
    return bool(
        re.match(r"^https://[^/?#\s]+(/[^\s#]*)?$", uri)
        or re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/[^\s#]*)?$", uri)
    )


async def create_oauth_client(
    session: AsyncSession,
    *,
    organisation_id: str,
    name: str,
    auth_method: str,
    service_id: str = "",
    redirect_uris: list[str] | str = (),
    post_logout_redirect_uris: list[str] | str = (),
    scopes: list[str] | str = (),
    grant_types: list[str] | str = (),
    jwks: str = "",
    jwks_uri: str = "",
) -> tuple[OAuthClient, str]:
    """Register a client; returns it and its secret ('' for ``private_key_jwt``).

    Raises:
        InvalidArgumentError: unknown auth method, grant type or scope; a redirect URI
            that is not absolute https (or loopback http); ``private_key_jwt`` without
            usable public keys; ``authorization_code`` without a redirect URI.
        NotFoundError: unknown organisation or service.
    """
    await get_organisation(session, organisation_id=organisation_id)
    if service_id:
        service = await get_service(session, service_id=service_id)
        if service.organisation_id != organisation_id:
            raise InvalidArgumentError(
                "SERVICE_NOT_IN_ORGANISATION", "the service belongs to another organisation"
            )
    if auth_method not in AUTH_METHODS:
        raise InvalidArgumentError(
            "INVALID_AUTH_METHOD", "auth_method must be private_key_jwt or client_secret_basic"
        )
    grants = _split(grant_types) or ["client_credentials"]
    if any(g not in GRANT_TYPES for g in grants):
        raise InvalidArgumentError(
            "INVALID_GRANT_TYPE", f"grant types must be among {', '.join(GRANT_TYPES)}"
        )
    scope_list = _split(scopes)
    if any(not SCOPE_PATTERN.match(s) for s in scope_list):
        raise InvalidArgumentError("INVALID_SCOPE", "unknown scope")
    redirects = _split(redirect_uris)
    logouts = _split(post_logout_redirect_uris)
    if any(not _valid_redirect_uri(u) for u in redirects + logouts):
        raise InvalidArgumentError(
            "INVALID_REDIRECT_URI",
            "redirect URIs must be absolute https (or http on loopback), without fragment",
        )
    if "authorization_code" in grants and not redirects:
        raise InvalidArgumentError(
            "INVALID_REDIRECT_URI", "the authorization_code grant needs a redirect URI"
        )
    secret = ""
    client = OAuthClient(
        client_id=str(uuid.uuid4()),
        organisation_id=organisation_id,
        service_id=service_id or None,
        name=_name(name, "client"),
        auth_method=auth_method,
        redirect_uris=" ".join(redirects),
        post_logout_redirect_uris=" ".join(logouts),
        scopes=" ".join(scope_list),
        grant_types=" ".join(grants),
        created_at=utcnow(),
    )
    if auth_method == "client_secret_basic":
        secret = new_token(32)
        client.secret_hash = sha256_hex(secret)
    else:
        if jwks:
            try:
                key_set = KeySet.import_key_set(json.loads(jwks))
            except (ValueError, TypeError, KeyError, JoseError):
                raise InvalidArgumentError(
                    "INVALID_JWKS", "jwks must be a JWK Set of public keys"
                ) from None
            if any(k.is_private for k in key_set.keys):
                raise InvalidArgumentError("INVALID_JWKS", "jwks must hold public keys only")
            client.jwks = json.dumps(key_set.as_dict(private=False))
        elif jwks_uri:
            if not _valid_redirect_uri(jwks_uri):
                raise InvalidArgumentError(
                    "INVALID_JWKS_URI",
                    "jwks_uri must be an absolute https URL (http only on loopback)",
                )
            client.jwks_uri = jwks_uri
        else:
            raise InvalidArgumentError("INVALID_JWKS", "private_key_jwt needs jwks or jwks_uri")
    session.add(client)
    await session.flush()
    return client, secret


async def get_oauth_client(session: AsyncSession, *, client_id: str) -> OAuthClient | None:
    """The client, or ``None`` when unknown (callers decide how to refuse)."""
    if not client_id or len(client_id) > 64:
        return None
    return await session.get(OAuthClient, client_id)


async def list_oauth_clients(session: AsyncSession, *, organisation_id: str) -> list[OAuthClient]:
    """An organisation's clients, newest first."""
    await get_organisation(session, organisation_id=organisation_id)
    return list(
        (
            await session.scalars(
                select(OAuthClient)
                .where(OAuthClient.organisation_id == organisation_id)
                .order_by(OAuthClient.created_at.desc())
            )
        ).all()
    )


async def revoke_oauth_client(session: AsyncSession, *, client_id: str) -> OAuthClient:
    """Revoke a client (idempotent): its grants and tokens stop working. Raises ``NotFoundError``."""
    from identity.models import Grant

    client = await session.get(OAuthClient, client_id, with_for_update=True)
    if client is None:
        raise NotFoundError("OAUTH_CLIENT_NOT_FOUND", "no OAuth client has this id")
    now = utcnow()
    if client.revoked_at is None:
        client.revoked_at = now
        for grant in (
            await session.scalars(
                select(Grant).where(Grant.client_id == client_id, Grant.revoked_at.is_(None))
            )
        ).all():
            grant.revoked_at = now
        await session.flush()
    return client
