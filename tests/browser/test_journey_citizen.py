"""Journey 1, end to end on the real platform (``govplat up``, every component a
process, real NATS), with the citizen in Chromium:

an agency's relying party (an organisation and an OIDC client registered through
identity's admin API, authenticating with ``private_key_jwt``) sends the citizen to
``/authorize`` asking for ``Cl.Cm`` (authorization code with PKCE, through Authlib's
client); the citizen has no account, so creates one on identity's pages; identity's
``VerificationCodeRequested`` crosses JetStream and notify emails the code from the
platform's own service (read here from its sandbox inbox, through notify's admin
API); the citizen types it, sets up an authenticator app (codes from pyotp) and is
sent back to the relying party, which gets an ID token whose ``vot`` is ``Cl.Cm``
(checked with joserfc against the published keys). Then, in a fresh browser, the
citizen signs in again with the password and the app, and the relying party again
gets ``Cl.Cm``. Nothing the citizen typed, nor any credential or token, is in a log
line or a span.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from govkit.testing.privacy import findings, records
from govplat_cli.notify_admin import NotifyAdmin

#: Notify's own service, which sends identity's codes (``notify.service.inbound``).
CODES_SERVICE_ID = "00000000-0000-4000-8000-000000000001"
CODE_IN_EMAIL = re.compile(r"Your security code is (\d{6})")
REDIRECT_URI = "https://rp.agency.example/signed-in"


class FiveMinuteAssertions(PrivateKeyJWT):
    """Authlib's ``private_key_jwt``, its assertions expiring in 5 minutes: identity
    takes them up to 10 minutes ahead (docs/identity.md), Authlib's default is an hour."""

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            claims=self.claims,
            header=self.headers,
            alg=self.alg,
            expires_in=300,
        )


class RelyingParty:
    """An agency's service that signs citizens in: its organisation and OIDC client
    (identity's admin API through the gateway, with the operator token), its EC
    P-256 signing key for ``private_key_jwt``, and Authlib's OAuth 2.0 client."""

    def __init__(self, platform) -> None:
        self.gateway = platform.gateway_url
        operator = {"Authorization": f"Bearer {platform.secrets()['identity_admin_token']}"}
        self.key = ECKey.generate_key("P-256", {"kid": f"rp-{uuid.uuid4().hex[:8]}", "use": "sig"})
        with httpx.Client(
            base_url=f"{self.gateway}/admin/identity", headers=operator, timeout=15
        ) as admin:
            organisation = admin.post("/organisations", json={"name": f"Agency {uuid.uuid4()}"})
            assert organisation.status_code == 201, organisation.text
            client = admin.post(
                "/oauth-clients",
                json={
                    "organisation_id": organisation.json()["id"],
                    "name": "Apply for a fishing licence",
                    "auth_method": "private_key_jwt",
                    "redirect_uris": [REDIRECT_URI],
                    "scopes": ["openid", "email"],
                    "grant_types": ["authorization_code"],
                    "jwks": {"keys": [self.key.as_dict(private=False)]},
                },
            )
        assert client.status_code == 201, client.text
        assert client.json()["client_secret"] is None
        self.client_id = client.json()["client_id"]
        self.metadata = httpx.get(
            f"{self.gateway}/.well-known/openid-configuration", timeout=15
        ).json()
        assert "private_key_jwt" in self.metadata["token_endpoint_auth_methods_supported"]
        self.keys = KeySet.import_key_set(httpx.get(self.metadata["jwks_uri"], timeout=15).json())
        self.tokens: list[dict] = []
        #: The authorization codes the browser brought back.
        self.codes: list[str] = []

    def oauth(self) -> OAuth2Client:
        """Authlib's client, signing its client assertions with the agency's key."""
        client = OAuth2Client(
            self.client_id,
            self.key,
            scope="openid email",
            redirect_uri=REDIRECT_URI,
            code_challenge_method="S256",
            token_endpoint_auth_method="private_key_jwt",
            timeout=15,
        )
        client.register_client_auth_method(
            FiveMinuteAssertions(
                self.metadata["token_endpoint"], alg="ES256", headers={"kid": self.key.kid}
            )
        )
        return client

    def sign_in(self, page, citizen_steps) -> dict:
        """Send the browser to ``/authorize`` for ``Cl.Cm``, let ``citizen_steps(page)``
        do the citizen's part, and redeem the code that comes back; the ID token's
        verified claims."""
        with self.oauth() as oauth:
            verifier, nonce = generate_token(48), generate_token(16)
            url, state = oauth.create_authorization_url(
                self.metadata["authorization_endpoint"],
                code_verifier=verifier,
                nonce=nonce,
                vtr='["Cl.Cm"]',
            )
            page.goto(url)
            citizen_steps(page)
            page.wait_for_url(f"{REDIRECT_URI}?*")
            callback = page.url
            answer = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
            assert answer["state"] == state and answer["iss"] == self.gateway
            self.codes.append(answer["code"])
            token = oauth.fetch_token(
                self.metadata["token_endpoint"],
                authorization_response=callback,
                code_verifier=verifier,
            )
        self.tokens.append(token)
        claims = jwt.decode(token["id_token"], self.keys, algorithms=["ES256"]).claims
        assert claims["iss"] == self.gateway and claims["aud"] == self.client_id
        assert claims["nonce"] == nonce and claims["exp"] > time.time()
        return claims

    def userinfo(self) -> dict:
        """What the userinfo endpoint says to the latest access token."""
        answer = httpx.get(
            self.metadata["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {self.tokens[-1]['access_token']}"},
            timeout=15,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


def emailed_codes(platform, email: str) -> list[dict]:
    """The security-code emails to ``email`` in the sandbox inbox of notify's own
    service, oldest first (notify's admin API through the gateway)."""
    with NotifyAdmin(platform.gateway_url, platform.secrets()["identity_admin_token"]) as admin:
        messages = admin.call("GET", f"/services/{CODES_SERVICE_ID}/sandbox-inbox?limit=250")[
            "messages"
        ]
    return [m for m in reversed(messages) if m["to"] == email]


def wait_for_emailed_code(platform, email: str, timeout: float = 20) -> tuple[str, dict]:
    """The code in the first security-code email to ``email``, waiting for it."""
    deadline = time.monotonic() + timeout
    while not (found := emailed_codes(platform, email)):
        assert time.monotonic() < deadline, f"no security code emailed within {timeout} s"
        time.sleep(0.2)
    return CODE_IN_EMAIL.search(found[0]["body"]).group(1), found[0]


def test_a_new_citizen_signs_up_with_the_emailed_code_sets_up_an_app_and_signs_in_at_cl_cm(
    running_platform, chromium
):
    rp = RelyingParty(running_platform)
    email = f"new.citizen-{uuid.uuid4().hex[:10]}@example.org"
    password = f"a river runs through {uuid.uuid4().hex[:6]}"
    journey: dict[str, str] = {}

    def sign_up_and_set_up_an_app(page) -> None:
        # No account yet: from the sign-in page to the sign-up page.
        page.wait_for_url(re.compile(r"/sign-in\?request="))
        page.get_by_role("link", name="Create an account").click()
        page.wait_for_url(re.compile(r"/sign-up\?request="))
        page.get_by_label("Email address").fill(email)
        page.get_by_label("Create a password").fill(password)
        page.get_by_role("button", name="Continue").click()

        # The code comes by email, through notify.
        page.wait_for_url(re.compile(r"/sign-up/verify-email\?request="))
        code, message = wait_for_emailed_code(running_platform, email)
        assert message["type"] == "email" and message["subject"] == "Your security code"
        journey["code"] = code
        page.get_by_label("Enter the 6-digit code").fill(code)
        page.get_by_role("button", name="Continue").click()

        # Cl.Cm was asked for: the second factor is set up before going back.
        page.wait_for_url(re.compile(r"/account/second-factor\?request="))
        page.get_by_label("Authenticator app").check()
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(re.compile(r"/account/second-factor/app\?request="))
        journey["secret"] = page.locator("#totp-secret").inner_text().strip()
        page.get_by_label("Enter the 6-digit code from your authenticator app").fill(
            pyotp.TOTP(journey["secret"]).now()
        )
        page.get_by_role("button", name="Continue").click()

    def sign_in_with_the_password_and_the_app(page) -> None:
        page.wait_for_url(re.compile(r"/sign-in\?request="))
        page.get_by_label("Email address").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/sign-in/second-factor\?request="))
        # The code that set the app up is spent: the next one (one step of drift).
        page.get_by_label("Enter the 6-digit code").fill(
            pyotp.TOTP(journey["secret"]).at(time.time(), counter_offset=1)
        )
        page.get_by_role("button", name="Continue").click()

    cookies: list[str] = []
    signed_up = in_a_fresh_browser(
        chromium, lambda page: rp.sign_in(page, sign_up_and_set_up_an_app), cookies
    )
    assert signed_up["vot"] == "Cl.Cm"
    assert rp.userinfo() == {"sub": signed_up["sub"], "email": email, "email_verified": True}
    # One code was emailed for the sign-up, and nothing else to this address.
    assert [m["subject"] for m in emailed_codes(running_platform, email)] == ["Your security code"]

    signed_in = in_a_fresh_browser(
        chromium, lambda page: rp.sign_in(page, sign_in_with_the_password_and_the_app), cookies
    )
    assert signed_in["vot"] == "Cl.Cm" and signed_in["sub"] == signed_up["sub"]

    trace_file = running_platform.env.get("GOVPLAT_TRACE_FILE")
    secrets = [email, password, journey["secret"]]
    for token in rp.tokens:
        secrets += [token["access_token"], token["id_token"]]
    secrets += rp.codes + cookies
    trace = Path(trace_file) if trace_file else None
    assert findings(running_platform.data_dir, secrets, trace) == []
    # The emailed code too: six digits, so only where they stand alone.
    alone = re.compile(rf"(?<!\d){journey['code']}(?!\d)")
    assert [
        where for where, text in records(running_platform.data_dir, trace) if alone.search(text)
    ] == []


def in_a_fresh_browser(chromium, steps, cookies: list[str]):
    """``steps(page)`` in a new browser context (no cookies) where the relying party's
    redirect URI answers with a plain page, as the agency's own site would; the
    values of the cookies it was given are added to ``cookies``."""
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.route(
            f"{REDIRECT_URI}*",
            lambda route: route.fulfill(status=200, content_type="text/plain", body="Signed in"),
        )
        return steps(page)
    finally:
        cookies += [c["value"] for c in context.cookies()]
        context.close()
