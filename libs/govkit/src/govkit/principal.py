"""The internal principal: who the gateway authenticated, as services receive it.

The gateway authenticates every call (through identity), then forwards a
short-lived signed statement of the caller in the ``X-Govplat-Principal`` header:
an Ed25519 JWT (RFC 9864 algorithm name) with ``typ`` ``govplat-principal+jwt``, ``iss``
``govplat-gateway``, ``aud`` the component it is for, a 30-second ``exp``, and the
principal's fields. Only the gateway holds the private key; services hold the
public key, so a service cannot mint a principal for another. A service refuses a
request whose principal is missing, expired, or meant for another component, and
never trusts a bare header. The gateway removes any ``X-Govplat-Principal`` a
caller sends.

Both ends remember recent work, since one caller's requests come in runs: the signer
hands out the same token for the same principal and component for up to
``REUSE_SECONDS`` of its 30 (so it is at least 20 seconds from expiry when it is
forwarded), and a verifier remembers the tokens it has verified until they expire
(an exact match of the token's bytes; expiry is checked on every use). Neither cache
widens what a token allows: a token is a statement about its principal for its whole
lifetime, whichever request carries it.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from joserfc.jwt import JWTClaimsRegistry

HEADER = "X-Govplat-Principal"
TOKEN_TYPE = "govplat-principal+jwt"
ISSUER = "govplat-gateway"
ALGORITHM = "Ed25519"
#: Lifetime of a principal (seconds): long enough for one request, no more.
LIFETIME_SECONDS = 30
#: How long the signer hands out the same token for the same principal and component.
REUSE_SECONDS = 10
#: Leeway on ``exp`` (seconds), for clocks a little apart.
LEEWAY_SECONDS = 2
#: Tokens each signer and verifier remembers at most (then it starts again).
CACHE_SIZE = 4096


class PrincipalError(Exception):
    """The principal is missing, malformed, badly signed, expired or for another component."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        organisation_id / service_id: the agency and its service ('' for a citizen).
        key_type: ``live``, ``test`` or ``team``.
        scopes: what the credential may do, e.g. ``("notify:send",)``.
        credential_id: the API key id or the access token's ``jti``.
        api: ``notify``, ``payments`` or ``oauth``.
        client_id / subject: for OAuth access tokens.
    """

    organisation_id: str
    service_id: str
    key_type: str
    scopes: tuple[str, ...] = field(default_factory=tuple)
    credential_id: str = ""
    api: str = ""
    client_id: str = ""
    subject: str = ""

    def has_scope(self, scope: str) -> bool:
        """Whether the principal may do ``scope``."""
        return scope in self.scopes


def new_key_pair() -> tuple[str, str]:
    """A new Ed25519 key pair as (private JWK JSON, public JWK JSON)."""
    key = OKPKey.generate_key("Ed25519", private=True)
    kid = key.thumbprint()
    return (
        json.dumps(dict(key.as_dict(private=True), kid=kid)),
        json.dumps(dict(key.as_dict(private=False), kid=kid)),
    )


class PrincipalSigner:
    """Signs principals (the gateway). ``private_jwk``: JSON of an Ed25519 private JWK."""

    def __init__(self, private_jwk: str) -> None:
        self.key = OKPKey.import_key(json.loads(private_jwk))
        if not self.key.is_private:
            raise ValueError("the principal signing key must be a private key")
        self._recent: dict[tuple[Principal, str], tuple[int, str]] = {}

    def sign(self, principal: Principal, audience: str, *, now: int | None = None) -> str:
        """A principal token for ``audience`` (a component name), valid 30 seconds from
        when it was made. Without ``now`` (seconds since the epoch), the token made
        for the same principal and audience within the last ``REUSE_SECONDS`` is
        handed out again."""
        if now is not None:
            return self._sign(principal, audience, now)
        now = int(time.time())
        remembered = self._recent.get((principal, audience))
        if remembered is not None and 0 <= now - remembered[0] < REUSE_SECONDS:
            return remembered[1]
        token = self._sign(principal, audience, now)
        if len(self._recent) >= CACHE_SIZE:
            self._recent.clear()
        self._recent[(principal, audience)] = (now, token)
        return token

    def _sign(self, principal: Principal, audience: str, now: int) -> str:
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "iat": now,
            "exp": now + LIFETIME_SECONDS,
            "jti": str(uuid.uuid4()),
            "principal": {**asdict(principal), "scopes": list(principal.scopes)},
        }
        header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": self.key.kid}
        return jwt.encode(header, claims, self.key, algorithms=[ALGORITHM])


class PrincipalVerifier:
    """Verifies principals (each service). ``public_jwk``: JSON of the gateway's Ed25519 public JWK.

    Args:
        audience: this component's name; a principal for another is refused.
    """

    def __init__(self, public_jwk: str, audience: str) -> None:
        self.key = OKPKey.import_key(json.loads(public_jwk))
        self.audience = audience
        self._verified: dict[str, tuple[float, Principal]] = {}

    def verify(self, token: str | None) -> Principal:
        """The principal in ``token``. A token verified before is not verified again
        until it expires (its ``exp`` is checked on every use).

        Raises:
            PrincipalError: missing, not Ed25519, bad signature, wrong ``typ``/``iss``/``aud``,
                expired, or without principal fields.
        """
        if not token or len(token) > 8192:
            raise PrincipalError("missing principal")
        remembered = self._verified.get(token)
        if remembered is not None:
            expires, principal = remembered
            if time.time() <= expires + LEEWAY_SECONDS:
                return principal
            del self._verified[token]
            raise PrincipalError("invalid principal: the token has expired")
        principal, expires = self._verify(token)
        if len(self._verified) >= CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (expires, principal)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jws.extract_compact(token.encode()).protected
            if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
                raise PrincipalError("not a principal token")
            decoded = jwt.decode(token, self.key, algorithms=[ALGORITHM])
            JWTClaimsRegistry(
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": ISSUER},
                aud={"essential": True, "value": self.audience},
                exp={"essential": True},
            ).validate(decoded.claims)
            fields = decoded.claims["principal"]
            expires = float(decoded.claims["exp"])
            principal = Principal(
                organisation_id=str(fields["organisation_id"]),
                service_id=str(fields["service_id"]),
                key_type=str(fields["key_type"]),
                scopes=tuple(str(s) for s in fields.get("scopes", [])),
                credential_id=str(fields.get("credential_id", "")),
                api=str(fields.get("api", "")),
                client_id=str(fields.get("client_id", "")),
                subject=str(fields.get("subject", "")),
            )
            return principal, expires
        except PrincipalError:
            raise
        except (
            JoseError,
            ValueError,
            TypeError,
            KeyError,
            RecursionError,
            UnicodeDecodeError,
            OverflowError,
        ) as exc:
            raise PrincipalError(f"invalid principal: {type(exc).__name__}") from None


class PrincipalGuard:
    """How a service reads the principal of each request, on REST and on gRPC.

    Args:
        public_jwk: the gateway's Ed25519 public JWK (JSON), or ``None`` when it is not
            configured, in which case every request is refused (fail closed).
        audience: this component's name.

    Both readers raise :class:`govkit.errors.UnauthenticatedError` (reason
    ``PRINCIPAL_INVALID``), which each API layer answers in its family's format.
    """

    def __init__(self, public_jwk: str | None, audience: str) -> None:
        self.audience = audience
        self.verifier = PrincipalVerifier(public_jwk, audience) if public_jwk else None

    def verify(self, token: str | None) -> Principal:
        """The principal in ``token`` (an ``X-Govplat-Principal`` value).

        Raises:
            govkit.errors.UnauthenticatedError: missing, invalid, expired or for another
                component, or no public key configured.
        """
        from govkit.errors import UnauthenticatedError

        if self.verifier is None:
            raise UnauthenticatedError(
                "PRINCIPAL_INVALID", "this service has no key to verify callers"
            )
        try:
            return self.verifier.verify(token)
        except PrincipalError as exc:
            raise UnauthenticatedError("PRINCIPAL_INVALID", str(exc)) from None

    def from_grpc(self, context) -> Principal:
        """The principal in a gRPC call's ``x-govplat-principal`` metadata.

        Raises:
            govkit.errors.UnauthenticatedError: as :meth:`verify`.
        """
        metadata = dict(context.invocation_metadata() or ())
        value = metadata.get(HEADER.lower())
        return self.verify(value if isinstance(value, str) else None)
