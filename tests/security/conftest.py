"""Fixtures for the security regression suite: tokens as an attacker would make them.

``tokens`` gives real sandbox credentials and forged ones. A forged access token that
is *validly signed* (to test one bad claim at a time) is signed with identity's own
active key, read from identity's database and decrypted with the platform's secret
key, as only someone who had broken into identity could."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from govkit.testing import run_coroutine
from govkit.testing.platform import notify_token


def b64(data: bytes) -> str:
    """Unpadded URL-safe base64, as in a JWT."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parts(token: str) -> tuple[dict, dict]:
    """A JWT's header and claims, unverified."""
    header, body, _signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(body))


def identity_signing_key(platform) -> tuple[str, ECKey]:
    """The kid and private key of identity's active signing key."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from govkit.db import async_url
    from identity.security import SecretBox

    url = platform.env.get("GOVPLAT_IDENTITY_DATABASE_URL") or (
        f"sqlite:///{platform.data_dir / 'identity.db'}"
    )

    async def read() -> tuple[str, str]:
        engine = create_async_engine(async_url(url))
        try:
            async with engine.connect() as connection:
                row = (
                    await connection.execute(
                        text(
                            "SELECT kid, private_jwk_encrypted FROM signing_key"
                            " WHERE status = 'active'"
                        )
                    )
                ).one()
                return row[0], row[1]
        finally:
            await engine.dispose()

    kid, encrypted = run_coroutine(read())
    box = SecretBox(platform.secrets()["identity_secret_key"])
    return kid, ECKey.import_key(json.loads(box.decrypt(encrypted)))


@dataclass
class Tokens:
    """Real and forged credentials for one running platform."""

    platform: object
    kid: str
    key: ECKey

    @property
    def credentials(self) -> dict:
        return self.platform.credentials()

    def access_token(self, scope: str) -> str:
        """A real client-credentials access token of the seeded client."""
        creds = self.credentials
        answer = httpx.post(
            f"{self.platform.gateway_url}/token",
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(creds["oauth_client_id"], creds["oauth_client_secret"]),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def sign(self, claims: dict, header: dict | None = None, key: ECKey | None = None) -> str:
        """``claims`` signed ES256 with identity's key (or ``key``)."""
        head = {"typ": "at+jwt", "alg": "ES256", "kid": self.kid, **(header or {})}
        return jwt.encode(head, claims, key or self.key)

    def forged_access_tokens(self, scope: str) -> dict[str, str]:
        """Access tokens for ``scope`` each wrong in one way, by the name of the attack."""
        real = self.access_token(scope)
        header, claims = parts(real)
        now = int(time.time())
        signing_input = real.rsplit(".", 1)[0]
        public_pem = self.key.as_pem(private=False)
        hs256_head = b64(json.dumps({**header, "alg": "HS256"}).encode())
        hs256_input = f"{hs256_head}.{signing_input.split('.')[1]}"
        signature = unb64(real.rsplit(".", 1)[1])
        stranger = ECKey.generate_key("P-256", private=True)
        return {
            "alg-none": (
                f"{b64(json.dumps({**header, 'alg': 'none'}).encode())}."
                f"{signing_input.split('.')[1]}."
            ),
            "hs256-with-the-public-key": (
                f"{hs256_input}."
                + b64(hmac.new(public_pem, hs256_input.encode(), hashlib.sha256).digest())
            ),
            "expired": self.sign({**claims, "iat": now - 600, "exp": now - 300}),
            "not-yet-valid": self.sign({**claims, "iat": now + 300, "nbf": now + 300}),
            "wrong-audience": self.sign({**claims, "aud": "https://another.example"}),
            "wrong-issuer": self.sign({**claims, "iss": "https://another.example"}),
            "tampered-signature": (
                f"{signing_input}.{b64(bytes([signature[0] ^ 1]) + signature[1:])}"
            ),
            "tampered-claims": (
                f"{signing_input.split('.')[0]}."
                f"{b64(json.dumps({**claims, 'scope': scope + ' admin'}).encode())}."
                f"{real.rsplit('.', 1)[1]}"
            ),
            "unknown-kid": self.sign(claims, {"kid": "unknown-kid"}, stranger),
            "known-kid-other-key": self.sign(claims, key=stranger),
            "notify-api-token": notify_token(self.credentials["notify_api_key"]),
            "pay-api-key": self.credentials["pay_api_key"],
        }

    def forged_notify_tokens(self) -> dict[str, str]:
        """Notify API tokens each wrong in one way, by the name of the attack."""
        key = self.credentials["notify_api_key"]
        real = notify_token(key)
        header, claims = parts(real)
        signing_input, signature = real.rsplit(".", 1)
        raw = unb64(signature)
        service_id = key[-73:-37]
        other_service = service_id[:-1] + ("0" if service_id[-1] != "0" else "1")
        return {
            "alg-none": (
                f"{b64(json.dumps({**header, 'alg': 'none'}).encode())}."
                f"{signing_input.split('.')[1]}."
            ),
            "tampered-signature": f"{signing_input}.{b64(bytes([raw[0] ^ 1]) + raw[1:])}",
            "expired": notify_token(key, iat=int(time.time()) - 3600),
            "not-yet-valid": notify_token(key, iat=int(time.time()) + 3600),
            "another-services-issuer": notify_token(key, iss=other_service),
            "no-issuer": jwt_without(real, key, "iss"),
            "an-oauth-access-token": self.access_token("notify:send"),
            "pay-api-key": self.credentials["pay_api_key"],
            "es256-signed-by-a-stranger": self.sign(
                claims, {"typ": "JWT"}, ECKey.generate_key("P-256", private=True)
            ),
        }


def jwt_without(token: str, key: str, claim: str) -> str:
    """``token``'s claims without ``claim``, signed as Notify's clients sign."""
    from joserfc.jwk import OctKey

    _header, claims = parts(token)
    claims.pop(claim)
    return jwt.encode({"typ": "JWT", "alg": "HS256"}, claims, OctKey.import_key(key[-36:]))


@pytest.fixture(scope="session")
def tokens(running_platform) -> Tokens:
    """Credentials, real and forged, for the shared running platform."""
    kid, key = identity_signing_key(running_platform)
    return Tokens(running_platform, kid, key)
