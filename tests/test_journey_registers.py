"""Journey 3, end to end on the real platform (``govplat up``, real NATS): an operator
appends an entry that ends a country in the ``country`` register (registers' JSON
append API through the gateway, with an access token of scope
``registers:write:country``); identity's read copy of the register, kept by the
register's ``EntryAppended`` events across JetStream, changes within one second; and
the citizen's address page, which took an address in that country before, then
refuses it with the reason.

The platform is shared by the tests of a worker: the country is given back its
former record (without an end) at the end, by a newer entry, as an operator would
undo the change. Nothing of the citizen, the address or the credentials is in a log
line or a span.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import nats
import pyotp

from govkit.db import utcnow
from govkit.testing import run_coroutine
from govkit.testing.privacy import findings

#: The country this journey ends (and restores): no other test uses it.
COUNTRY = "TV"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ERROR_MESSAGE = re.compile(r'class="error-message"[^>]*>.*?</span>\s*(.*?)</p>', re.S)
#: What identity's copy takes to see an append (the issue's figure).
WITHIN_SECONDS = 1.0
OUTBOX_PENDING = re.compile(r"^govplat_outbox_pending\{[^}]*\} ([0-9.e+]+)$", re.M)


async def _consumer_backlog(nats_url: str) -> tuple[int, int]:
    """Identity's ``identity-country-register`` consumer: (events not yet delivered,
    delivered and not yet acknowledged)."""
    connection = await nats.connect(nats_url, allow_reconnect=False)
    try:
        info = await connection.jetstream().consumer_info(
            "GOVPLAT_REGISTERS", "identity-country-register"
        )
        return info.num_pending, info.num_ack_pending
    finally:
        await connection.close()


def wait_until_settled(platform, timeout: float = 60) -> float:
    """Wait until the registers' outbox is published and identity has handled every
    event of the registers' stream; returns the seconds waited.

    A platform that has just started is still publishing the seeded registers (some
    9,000 ``EntryAppended`` events, which identity reads through and acknowledges):
    an append then waits its turn behind them. The journey's one second is the
    settled platform's figure."""
    started = time.monotonic()
    while True:
        metrics = httpx.get(f"{platform.url('registers')}/metrics", timeout=10).text
        pending = OUTBOX_PENDING.search(metrics)
        if pending and float(pending.group(1)) == 0:
            if run_coroutine(_consumer_backlog(platform.nats_url)) == (0, 0):
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"the registers' events were not through in {timeout} s")
        time.sleep(0.1)


class Operator:
    """The platform's operator through the gateway: identity's admin API (the operator
    token), and registers' append API (an access token of the sandbox OAuth client)."""

    def __init__(self, platform) -> None:
        self.gateway = platform.gateway_url
        self.admin = httpx.Client(
            base_url=f"{self.gateway}/admin/identity",
            headers={"Authorization": f"Bearer {platform.secrets()['identity_admin_token']}"},
            timeout=15,
        )
        credentials = platform.credentials()
        answer = httpx.post(
            f"{self.gateway}/token",
            data={"grant_type": "client_credentials", "scope": "registers:write:country"},
            auth=(credentials["oauth_client_id"], credentials["oauth_client_secret"]),
            timeout=15,
        )
        assert answer.status_code == 200, answer.text
        self.access_token = answer.json()["access_token"]

    def copy_of(self, code: str) -> dict:
        """Identity's read copy of one country."""
        answer = self.admin.get(f"/countries/{code}")
        assert answer.status_code == 200, answer.text
        return answer.json()

    def record(self, code: str) -> dict:
        """The register's current record of ``code``: its item."""
        answer = httpx.get(f"{self.gateway}/registers/country/records/{code}", timeout=15)
        assert answer.status_code == 200, answer.text
        return answer.json()[code]["item"][0]

    def append(self, code: str, item: dict) -> dict:
        """Append one entry of ``code`` to the ``country`` register; its entry."""
        answer = httpx.post(
            f"{self.gateway}/registers/country/entries",
            json={"entries": [{"key": code, "item": item}]},
            headers={"Authorization": f"Bearer {self.access_token}"},
            timeout=15,
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["entries"][0]

    def wait_for_copy(self, code: str, changed, timeout: float = 10) -> tuple[dict, float]:
        """Poll identity's copy of ``code`` (every 10 ms) until ``changed(record)``:
        (record, seconds from the call to the answer that showed the change)."""
        started = time.monotonic()
        while True:
            record = self.copy_of(code)
            waited = time.monotonic() - started
            if changed(record) or waited > timeout:
                return record, waited
            time.sleep(0.01)

    def new_citizen(self) -> tuple[str, str, str]:
        """A citizen with an authenticator app (the sandbox's admin endpoint):
        (email, password, TOTP secret)."""
        email = f"resident-{uuid.uuid4().hex[:12]}@example.org"
        password = f"journey three {uuid.uuid4().hex[:8]}"
        answer = self.admin.post("/sandbox/citizen", json={"email": email, "password": password})
        assert answer.status_code == 201, answer.text
        return email, password, answer.json()["totp_secret"]


class Citizen:
    """A citizen's browser on identity's pages through the gateway (plain HTTP, keeping
    its cookies and the CSRF token of the last form it saw)."""

    def __init__(self, gateway_url: str) -> None:
        self.http = httpx.Client(base_url=gateway_url, timeout=15)
        self.token = ""

    def get(self, path: str) -> httpx.Response:
        answer = self.http.get(path)
        found = CSRF.search(answer.text)
        if found:
            self.token = found.group(1)
        return answer

    def post(self, path: str, **fields: str) -> httpx.Response:
        return self.http.post(path, data={"csrf_token": self.token, **fields})

    def sign_in(self, email: str, password: str, totp_secret: str) -> None:
        """Sign in with the password and the app's code; ends signed in at ``Cl.Cm``."""
        self.get("/sign-in")
        first = self.post("/sign-in", email=email, password=password)
        assert first.headers.get("location") == "/sign-in/second-factor", first.text[:300]
        self.get("/sign-in/second-factor")
        second = self.post("/sign-in/second-factor", code=pyotp.TOTP(totp_secret).now())
        assert second.headers.get("location") == "/account", second.text[:300]

    def save_address(self, **fields: str) -> httpx.Response:
        """Fill in and send the address form."""
        assert self.get("/account/address").status_code == 200
        return self.post("/account/address", **fields)


def test_a_country_ended_in_the_register_reaches_identitys_copy_within_a_second_and_is_refused(
    running_platform,
):
    operator = Operator(running_platform)
    email, password, totp_secret = operator.new_citizen()
    citizen = Citizen(running_platform.gateway_url)
    citizen.sign_in(email, password, totp_secret)
    address = {
        "address_line_1": "7 Vaiaku Lagi Road",
        "address_line_2": "",
        "locality": "Funafuti",
        "postal_code": "",
        "country": "Tuvalu",
    }
    former = operator.record(COUNTRY)
    assert "end-date" not in former and operator.copy_of(COUNTRY)["live"] is True

    # Before: an address in Tuvalu is taken.
    before = citizen.save_address(**address)
    assert before.status_code == 303 and before.headers["location"] == "/account?saved=address"
    assert "7 Vaiaku Lagi Road<br>Funafuti<br>Tuvalu" in citizen.get("/account").text

    ended_on = (utcnow() - timedelta(days=1)).date()
    print(f"the platform settled after {wait_until_settled(running_platform):.2f} s more")
    try:
        # The operator ends the country (from yesterday, so it has ended whatever the hour).
        # The register has the entry once the append is answered (committed): from
        # then, identity's copy has a second to see it. The append's own time is
        # printed too (registers' write, not the copy's).
        started = time.monotonic()
        entry = operator.append(COUNTRY, {**former, "end-date": ended_on.isoformat()})
        appended_in = time.monotonic() - started
        copy, waited = operator.wait_for_copy(COUNTRY, lambda r: r["end_date"] is not None)
        print(f"append answered in {appended_in:.3f} s; the copy changed {waited:.3f} s after")
        assert copy["entry_number"] == int(entry["entry-number"])  # a string in OpenRegister
        assert (copy["end_date"], copy["live"]) == (ended_on.isoformat(), False)
        assert waited < WITHIN_SECONDS, f"the copy changed {waited:.3f} s after the append"

        # After: the same address is refused, by name and by code, with the reason.
        expected = (
            f"Tuvalu ended on {ended_on.day} {ended_on:%B %Y}: enter the country the address "
            "is in now"
        )
        for typed in ("Tuvalu", "tv"):
            refused = citizen.save_address(**{**address, "country": typed})
            assert refused.status_code == 400, refused.text[:300]
            assert ERROR_MESSAGE.search(refused.text).group(1).strip() == expected
            assert '<a href="#country">' in refused.text
            assert "<title>Error: Your postal address" in refused.text
    finally:
        # The operator undoes it: the former record again, as a newer entry.
        operator.append(COUNTRY, former)
        restored, _ = operator.wait_for_copy(COUNTRY, lambda r: r["end_date"] is None)
        assert restored["live"] is True
    assert citizen.save_address(**address).status_code == 303

    trace_file = running_platform.env.get("GOVPLAT_TRACE_FILE")
    leaks = findings(
        running_platform.data_dir,
        [email, password, totp_secret, operator.access_token, "7 Vaiaku Lagi Road"],
        Path(trace_file) if trace_file else None,
    )
    assert leaks == []
