"""Database models of the identity service (SQLAlchemy 2.0, its own metadata).

Secrets are never stored in the clear: API keys of the payments style, OAuth
client secrets, tokens, codes and sessions are stored as SHA-256 hashes (they are
high-entropy random values); passwords as argon2id hashes; Notify key secrets
(needed to verify HS256 signatures), TOTP seeds and signing keys encrypted with
the service's secret key (``identity.security.SecretBox``).

:class:`CountryRecord` is identity's read copy of the registers' ``country``
register (kept by ``EntryAppended`` events, see ``identity.events``);
:class:`PostalAddress` is a citizen's address, whose country is checked against it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from govkit.db import UTCDateTime, new_metadata, utcnow
from govkit.outbox import MessagingTables


class Base(DeclarativeBase):
    """Declarative base of the identity service's models."""

    metadata = new_metadata()


#: The outbox (events to publish) and inbox (events handled) of this service.
messaging = MessagingTables(Base.metadata)


class Organisation(Base):
    """An agency: the organisation that owns services, keys and OAuth clients."""

    __tablename__ = "organisation"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Service(Base):
    """One of an agency's services (Notify's and Pay's "service"); keys belong to it."""

    __tablename__ = "service"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """An API key of a service.

    ``api`` is ``notify`` (key string ``{name}-{service_id}-{secret}``, HS256 JWTs)
    or ``payments`` (opaque ``api_{type}_...`` bearer key). ``key_type`` is
    ``live``, ``test`` or ``team`` (team: Notify only).
    """

    __tablename__ = "api_key"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("service.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    api: Mapped[str] = mapped_column(String(16))
    key_type: Mapped[str] = mapped_column(String(8))
    prefix: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    secret_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OAuthClient(Base):
    """An OAuth 2.0 / OpenID Connect client (a relying party or a calling service).

    ``auth_method``: ``private_key_jwt`` (RFC 7523, public keys in ``jwks`` or at
    ``jwks_uri``) or ``client_secret_basic`` (sandbox). Lists are space-separated.
    """

    __tablename__ = "oauth_client"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    service_id: Mapped[str | None] = mapped_column(ForeignKey("service.id"), nullable=True)
    name: Mapped[str] = mapped_column(String(255))
    auth_method: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    jwks: Mapped[str | None] = mapped_column(Text, nullable=True)
    jwks_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    redirect_uris: Mapped[str] = mapped_column(Text, default="")
    post_logout_redirect_uris: Mapped[str] = mapped_column(Text, default="")
    scopes: Mapped[str] = mapped_column(Text, default="")
    grant_types: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ClientAssertionJti(Base):
    """A ``client_assertion`` ``jti`` already used (RFC 7523 section 3: single use)."""

    __tablename__ = "client_assertion_jti"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SigningKey(Base):
    """A key that signs ID tokens and access tokens (ES256).

    ``status``: ``next`` (published, not yet signing), ``active`` (signing, one at a
    time), ``retired`` (published until ``retired_at`` + the longest token lifetime).
    """

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    private_jwk_encrypted: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Account(Base):
    """A citizen's account (email and password, optional second factor)."""

    __tablename__ = "account"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    mfa_method: Mapped[str | None] = mapped_column(String(8), nullable=True)
    totp_secret_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The time step (RFC 6238 ``T``) of the last authenticator app code accepted:
    #: only codes of later steps are accepted (no code is accepted twice).
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    phone_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    identity_level: Mapped[str | None] = mapped_column(String(4), nullable=True)
    identity_claims: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OneTimeCode(Base):
    """A code sent to a citizen (email verification, SMS sign-in), stored hashed."""

    __tablename__ = "one_time_code"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BrowserSession(Base):
    """A signed-in browser (cookie value stored hashed). ``auth_level`` is the
    credential level reached: ``Cl`` (password) or ``Cl.Cm`` (with a second factor)."""

    __tablename__ = "browser_session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id"), index=True)
    auth_level: Mapped[str] = mapped_column(String(8))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuthorizationRequest(Base):
    """A validated ``/authorize`` request waiting for the citizen to sign in."""

    __tablename__ = "authorization_request"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(1000))
    nonce: Mapped[str] = mapped_column(String(1000))
    code_challenge: Mapped[str] = mapped_column(String(128))
    credential_level: Mapped[str] = mapped_column(String(8))
    identity_level: Mapped[str | None] = mapped_column(String(4), nullable=True)
    prompt: Mapped[str | None] = mapped_column(String(16), nullable=True)
    max_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Grant(Base):
    """What one authorization (or client_credentials call) granted: the family of
    every token issued from it, revoked together (code reuse, refresh token reuse)."""

    __tablename__ = "oauth_grant"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    scope: Mapped[str] = mapped_column(Text)
    vot: Mapped[str | None] = mapped_column(String(16), nullable=True)
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuthorizationCode(Base):
    """An authorization code (stored hashed), single use, short-lived."""

    __tablename__ = "authorization_code"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("oauth_grant.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    nonce: Mapped[str] = mapped_column(String(1000))
    code_challenge: Mapped[str] = mapped_column(String(128))
    session_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IssuedToken(Base):
    """An access token (by its ``jti``) or a refresh token (by its hash) of a grant."""

    __tablename__ = "issued_token"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    grant_id: Mapped[str] = mapped_column(ForeignKey("oauth_grant.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_issued_token_kind_grant", "kind", "grant_id"),)


class CountryRecord(Base):
    """The current record of one key of the ``country`` register (a read copy).

    One row per key (ISO 3166-1 alpha-2 code), the item of the latest entry applied:
    an entry is applied only when its ``entry_number`` is higher than the row's, so
    events and the start-up load may arrive in any order and any number of times.
    ``start_date`` and ``end_date`` are the first day of the register's (possibly
    partial) dates: ``1993`` is 1 January 1993. ``name_key`` and
    ``official_name_key`` are the names folded for matching what a citizen types.
    """

    __tablename__ = "country_record"

    country: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    official_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    name_key: Mapped[str] = mapped_column(String(255), index=True)
    official_name_key: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    start_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    entry_number: Mapped[int] = mapped_column(BigInteger)
    entry_timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PostalAddress(Base):
    """A citizen's postal address (OpenID Connect's ``address`` claim's parts).

    ``street_address``: the address lines, joined by a newline; ``locality``: the town
    or city; ``country``: the ``country`` register's key (ISO 3166-1 alpha-2), live in
    the read copy when the address was given.
    """

    __tablename__ = "postal_address"

    account_id: Mapped[str] = mapped_column(ForeignKey("account.id"), primary_key=True)
    street_address: Mapped[str] = mapped_column(String(1000))
    locality: Mapped[str] = mapped_column(String(255))
    postal_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    country: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
