"""The citizen's sign-up and sign-in pages in a real browser, through the gateway of
the real platform (``govplat up``): sign-up with the emailed code (read from NATS
JetStream); a second factor, either an authenticator app or text messages (the
texted codes read from JetStream too); sign-out; sign-in with the password and the
app's code or a texted code.

Also, without a browser, over plain HTTP: CSRF refusal, the lockout page, and a
sign-up that tells nothing of whether the email is registered.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid

import httpx
import pyotp
import pytest

PASSWORD = "correct horse battery staple"


def fresh_email() -> str:
    return f"citizen-{uuid.uuid4().hex[:12]}@example.com"


def fresh_mobile() -> tuple[str, str]:
    """A UK mobile number no other test uses: (as a citizen types it, E.164)."""
    digits = f"{secrets.randbelow(10**6):06d}"
    return f"07912 {digits}", f"+447912{digits}"


def assert_every_input_is_labelled(page) -> None:
    """Each visible form control has a ``<label for>`` that Playwright resolves back to it."""
    controls = page.locator("input:not([type=hidden]), select, textarea")
    assert controls.count() > 0
    for index in range(controls.count()):
        control = controls.nth(index)
        control_id = control.get_attribute("id")
        assert control_id, f"input {control.get_attribute('name')} has no id"
        label = page.locator(f"label[for='{control_id}']")
        assert label.count() == 1, f"input #{control_id} has no label"
        assert page.get_by_label(label.inner_text(), exact=True).get_attribute("id") == control_id


def test_sign_up_set_up_an_app_sign_out_and_sign_in_with_two_factors(
    running_platform, page, read_code
):
    gateway = running_platform.gateway_url
    email = fresh_email()

    # Sign up.
    response = page.goto(f"{gateway}/sign-up")
    assert response.status == 200
    assert response.headers["cache-control"] == "no-store"
    assert page.locator("html").get_attribute("lang") == "en"
    assert_every_input_is_labelled(page)
    assert page.get_by_label("Email address").get_attribute("autocomplete") == "email"
    assert page.get_by_label("Create a password").get_attribute("autocomplete") == "new-password"
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Create a password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()

    # Enter the emailed code: a wrong one first, shown in the error summary.
    page.wait_for_url(re.compile(r"/sign-up/verify-email$"))
    assert email in page.locator("main").inner_text()
    code = read_code(email)
    code_input = page.get_by_label("Enter the 6-digit code")
    assert code_input.get_attribute("autocomplete") == "one-time-code"
    code_input.fill(f"{(int(code) + 1) % 1_000_000:06d}")
    page.get_by_role("button", name="Continue").click()
    summary = page.get_by_role("alert")
    assert "There is a problem" in summary.inner_text()
    assert summary.get_by_role("link").get_attribute("href") == "#code"
    assert page.title().startswith("Error: ")
    page.get_by_label("Enter the 6-digit code").fill(code)
    page.get_by_role("button", name="Continue").click()

    # Signed in with a password: set up an authenticator app.
    page.wait_for_url(re.compile(r"/account$"))
    assert page.locator("#account-email").inner_text() == email
    assert page.locator("#account-level").inner_text() == "Cl"
    page.get_by_role("link", name="Set up a second factor").click()
    page.wait_for_url(re.compile(r"/account/second-factor$"))
    assert_every_input_is_labelled(page)
    page.get_by_label("Authenticator app").check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/account/second-factor/app$"))
    secret = page.locator("#totp-secret").inner_text().strip()
    assert page.locator("#totp-uri").inner_text().startswith("otpauth://totp/")
    assert_every_input_is_labelled(page)
    page.get_by_label("Enter the 6-digit code from your authenticator app").fill(
        pyotp.TOTP(secret).now()
    )
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/account$"))
    assert page.locator("#account-level").inner_text() == "Cl.Cm"

    # Sign out, then sign in: password, then the app's code. The code that set the
    # app up is used: the next one, still accepted (one step of drift), signs in.
    sign_out_then_type_the_password(page, gateway, email)
    page.get_by_label("Enter the 6-digit code").fill(
        pyotp.TOTP(secret).at(time.time(), counter_offset=1)
    )
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/account$"))
    assert page.locator("#account-email").inner_text() == email
    assert page.locator("#account-level").inner_text() == "Cl.Cm"
    session = next(c for c in page.context.cookies() if c["name"] == "govplat_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"


def sign_up_with_the_emailed_code(page, gateway: str, email: str, read_code) -> None:
    """Create an account and verify its email; ends on the account page at ``Cl``."""
    page.goto(f"{gateway}/sign-up")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Create a password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/sign-up/verify-email$"))
    page.get_by_label("Enter the 6-digit code").fill(read_code(email))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/account$"))
    assert page.locator("#account-level").inner_text() == "Cl"


def sign_out_then_type_the_password(page, gateway: str, email: str) -> None:
    """Sign out (the account page then asks to sign in) and sign in with the email
    and password; ends on the second-factor page."""
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/account/signed-out$"))
    page.goto(f"{gateway}/account")
    page.wait_for_url(re.compile(r"/sign-in$"))
    assert_every_input_is_labelled(page)
    assert page.get_by_label("Password").get_attribute("autocomplete") == "current-password"
    page.get_by_label("Email address").fill(email.upper())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/sign-in/second-factor$"))
    assert_every_input_is_labelled(page)


def test_sign_up_choose_text_messages_and_sign_in_with_the_password_and_a_texted_code(
    running_platform, page, read_code
):
    gateway = running_platform.gateway_url
    email = fresh_email()
    typed, e164 = fresh_mobile()
    sign_up_with_the_emailed_code(page, gateway, email, read_code)

    # Choose text messages.
    page.get_by_role("link", name="Set up a second factor").click()
    page.wait_for_url(re.compile(r"/account/second-factor$"))
    page.get_by_label("Text message").check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/account/second-factor/sms$"))
    assert_every_input_is_labelled(page)
    phone = page.get_by_label("Mobile phone number")
    assert phone.get_attribute("type") == "tel"
    assert phone.get_attribute("autocomplete") == "tel"

    # Something that is not a phone number is refused, the reason in the summary.
    phone.fill("12345")
    page.get_by_role("button", name="Continue").click()
    summary = page.get_by_role("alert")
    assert "Enter a UK mobile phone number" in summary.inner_text()
    assert summary.get_by_role("link").get_attribute("href") == "#phone_number"
    assert page.get_by_label("Mobile phone number").get_attribute("aria-invalid") == "true"

    # A UK number typed without +44: the code goes to its E.164 form.
    page.get_by_label("Mobile phone number").fill(typed)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/account/second-factor/sms/code$"))
    assert page.locator("#phone-number").inner_text() == f"+44 7912 {e164[-6:]}"
    code_input = page.get_by_label("Enter the 6-digit code")
    assert code_input.get_attribute("autocomplete") == "one-time-code"
    code_input.fill(read_code(e164))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/account$"))
    assert page.locator("#account-level").inner_text() == "Cl.Cm"
    assert page.locator("#phone-ending").inner_text() == e164[-4:]

    # Sign out, then sign in: the password texts a code to the number.
    sign_out_then_type_the_password(page, gateway, email)
    assert page.locator("#phone-ending").inner_text() == e164[-4:]
    first = read_code(e164, after=1)
    page.get_by_label("Enter the 6-digit code").fill(f"{(int(first) + 1) % 1_000_000:06d}")
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_role("alert").get_by_role("link").get_attribute("href") == "#code"

    # Ask for a new code: the earlier one stops working, the new one signs in.
    page.get_by_role("button", name="Send a new code").click()
    page.wait_for_url(re.compile(r"/sign-in/second-factor\?sent=1$"))
    assert "We have sent you a new code" in page.get_by_role("status").inner_text()
    page.get_by_label("Enter the 6-digit code").fill(read_code(e164, after=2))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/account$"))
    assert page.locator("#account-email").inner_text() == email
    assert page.locator("#account-level").inner_text() == "Cl.Cm"


def test_an_empty_sign_in_lists_each_error_and_links_to_its_field(running_platform, page):
    page.goto(f"{running_platform.gateway_url}/sign-in")
    page.get_by_role("button", name="Sign in").click()

    summary = page.get_by_role("alert")
    links = summary.get_by_role("link")
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [
        "#email",
        "#password",
    ]
    links.first.click()
    assert page.evaluate("document.activeElement.id") == "email"
    assert page.get_by_label("Email address").get_attribute("aria-invalid") == "true"


def test_a_form_post_without_the_csrf_token_is_refused(running_platform, page):
    gateway = running_platform.gateway_url
    page.goto(f"{gateway}/sign-in")  # sets the CSRF cookie in the browser context
    csrf = next(c for c in page.context.cookies() if c["name"] == "govplat_csrf")
    assert csrf["httpOnly"] and csrf["sameSite"] == "Strict"

    refused = page.request.post(
        f"{gateway}/sign-in", form={"email": fresh_email(), "password": PASSWORD}
    )
    assert refused.status == 403
    assert "could not be sent" in refused.text()
    forged = page.request.post(
        f"{gateway}/sign-in",
        form={"email": fresh_email(), "password": PASSWORD, "csrf_token": "x" * 43},
    )
    assert forged.status == 403


def test_an_over_long_password_is_refused_at_sign_up_not_silently_cut_short(running_platform, page):
    page.goto(f"{running_platform.gateway_url}/sign-up")
    page.get_by_label("Email address").fill(fresh_email())
    page.get_by_label("Create a password").fill("a long pasted passphrase " * 12)  # 300
    page.get_by_role("button", name="Continue").click()

    summary = page.get_by_role("alert")
    assert "Your password must be 256 characters or fewer" in summary.inner_text()
    assert summary.get_by_role("link").get_attribute("href") == "#password"
    assert page.get_by_label("Create a password").get_attribute("aria-invalid") == "true"


# -- without a browser ----------------------------------------------------------------

CSRF_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
ERROR_MESSAGE = re.compile(r'class="error-message"[^>]*>.*?</span>\s*(.*?)</p>', re.S)
TITLE = re.compile(r"<h1[^>]*>(.*?)</h1>", re.S)


class Citizen:
    """A plain HTTP client of the pages, through the gateway, keeping its cookies."""

    def __init__(self, gateway_url: str) -> None:
        self.http = httpx.Client(base_url=gateway_url, timeout=15)
        self.token = ""

    def get(self, path: str) -> httpx.Response:
        response = self.http.get(path)
        found = CSRF_TOKEN.search(response.text)
        if found:
            self.token = found.group(1)
        return response

    def post(self, path: str, **fields: str) -> httpx.Response:
        return self.http.post(path, data={"csrf_token": self.token, **fields})

    def sign_in(self, email: str, password: str) -> httpx.Response:
        return self.post("/sign-in", email=email, password=password)

    def sign_up(self, email: str, password: str, read_code) -> httpx.Response:
        """Sign up and type the emailed code; the answer to the code."""
        self.get("/sign-up")
        assert self.post("/sign-up", email=email, password=password).status_code == 303
        return self.post("/sign-up/verify-email", code=read_code(email))


def what_the_page_says(answer: httpx.Response) -> tuple[int, str]:
    """The status and the error message of a page (else its heading, else where it
    redirects to)."""
    found = ERROR_MESSAGE.search(answer.text) or TITLE.search(answer.text)
    return answer.status_code, found.group(1).strip() if found else answer.headers["location"]


def test_a_csrf_cookie_the_server_did_not_sign_is_refused_and_never_signed(running_platform):
    planted = secrets.token_urlsafe(32)  # shaped like the server's own random values
    fields = {"email": fresh_email(), "password": PASSWORD}

    def with_cookie(value: str) -> httpx.Client:
        """A browser whose only cookie is ``govplat_csrf=value``."""
        return httpx.Client(
            base_url=running_platform.gateway_url, cookies={"govplat_csrf": value}, timeout=15
        )

    with with_cookie(planted) as forger:
        forged = forger.post("/sign-in", data={"csrf_token": planted, **fields})
    with with_cookie(planted) as forger:
        page = forger.get("/sign-in")

    assert forged.status_code == 403 and "could not be sent" in forged.text
    # The page does not sign the planted value: it gives the browser a cookie of its own.
    issued = page.cookies["govplat_csrf"]
    token = CSRF_TOKEN.search(page.text).group(1)
    assert issued != planted and planted not in token and token != issued
    with with_cookie(planted) as forger:
        assert forger.post("/sign-in", data={"csrf_token": token, **fields}).status_code == 403
    with with_cookie(issued) as browser:
        # The form's token with the cookie it came with: past the check, a wrong password.
        assert browser.post("/sign-in", data={"csrf_token": token, **fields}).status_code == 400
        assert browser.post("/sign-in", data={"csrf_token": issued, **fields}).status_code == 403


def test_a_sign_up_with_a_registered_email_answers_exactly_like_one_with_a_new_email(
    running_platform, read_code
):
    gateway = running_platform.gateway_url
    registered = fresh_email()
    assert Citizen(gateway).sign_up(registered, PASSWORD, read_code).status_code == 303

    def answers(email: str, wrong_code) -> list[tuple[int, str]]:
        """What the pages say to wrong codes, then to asking for new codes."""
        citizen = Citizen(gateway)
        citizen.get("/sign-up")
        said = [what_the_page_says(citizen.post("/sign-up", email=email, password="x" + PASSWORD))]
        code = wrong_code()
        for _ in range(6):
            said.append(what_the_page_says(citizen.post("/sign-up/verify-email", code=code)))
        for _ in range(5):
            said.append(what_the_page_says(citizen.post("/sign-up/resend-code")))
        return said

    new = fresh_email()
    for_new = answers(new, lambda: f"{(int(read_code(new)) + 1) % 1_000_000:06d}")
    for_registered = answers(registered, lambda: "000000")

    assert for_registered == for_new
    wrong = (400, "The code is not correct: check it and try again")
    dead = (400, "The code has expired or was tried too many times: get a new code")
    resent = (303, "/sign-up/verify-email?resent=1")
    assert for_new == [(303, "/sign-up/verify-email")] + [wrong] * 4 + [dead] * 2 + [resent] * 4 + [
        (429, "You asked for too many codes")
    ]


def test_a_password_longer_than_256_characters_is_wrong_at_sign_in_never_cut_short(
    running_platform, read_code
):
    citizen = Citizen(running_platform.gateway_url)
    email = fresh_email()
    longest = ("correct horse battery staple " * 9)[:256]
    assert citizen.sign_up(email, longest, read_code).status_code == 303
    citizen.post("/account/sign-out")
    page = citizen.get("/sign-in")

    too_long = citizen.sign_in(email, longest + " and more")
    right = citizen.sign_in(email, longest)

    assert too_long.status_code == 400
    assert "The email address or password is not correct" in too_long.text
    assert right.status_code == 303 and right.headers["location"] == "/account"
    assert "maxlength" not in page.text.split('id="password"')[1].split(">")[0]


def test_lockout_page_after_too_many_wrong_passwords_and_the_same_for_unknown_emails(
    running_platform, read_code
):
    citizen = Citizen(running_platform.gateway_url)
    email = fresh_email()
    verified = citizen.sign_up(email, PASSWORD, read_code)
    assert verified.status_code == 303 and verified.headers["location"] == "/account"
    citizen.post("/account/sign-out")
    citizen.get("/sign-in")

    answers = [citizen.sign_in(email, "not the password") for _ in range(5)]

    assert [a.status_code for a in answers] == [400, 400, 400, 400, 429]
    assert "not correct" in answers[0].text
    locked = answers[-1]
    assert "Too many attempts" in locked.text
    assert re.search(r"Try again in\s+<strong[^>]*>15 minutes</strong>", locked.text)
    assert locked.headers["cache-control"] == "no-store"
    # Even the right password is refused while the account is locked.
    right = citizen.sign_in(email, PASSWORD)
    assert right.status_code == 429 and "Too many attempts" in right.text
    assert "govplat_session" not in citizen.http.cookies

    # An email without an account gets the same answers, so the page reveals nothing.
    nobody = fresh_email()
    unknown = [citizen.sign_in(nobody, "not the password") for _ in range(5)]
    assert [a.status_code for a in unknown] == [400, 400, 400, 400, 429]
    assert unknown[0].text.replace(nobody, email) == answers[0].text
    assert unknown[-1].text == locked.text


def test_one_citizens_cookies_never_reach_another_browser_through_the_gateway(
    running_platform, read_code
):
    first = Citizen(running_platform.gateway_url)
    email = fresh_email()
    verified = first.sign_up(email, PASSWORD, read_code)
    assert verified.status_code == 303 and "govplat_session" in first.http.cookies
    assert first.get("/account").status_code == 200

    stranger = httpx.Client(base_url=running_platform.gateway_url, timeout=15)
    account = stranger.get("/account")
    pending = stranger.get("/sign-up/verify-email")
    form = stranger.get("/sign-in")

    assert account.status_code == 303 and account.headers["location"] == "/sign-in"
    assert email not in account.text
    assert pending.status_code == 303 and email not in pending.text
    assert "govplat_csrf" in stranger.cookies  # a token of its own, not another's
    assert form.cookies["govplat_csrf"] != first.http.cookies["govplat_csrf"]


def test_the_authorization_request_id_is_carried_through_the_journey(running_platform, read_code):
    citizen = Citizen(running_platform.gateway_url)
    email = fresh_email()
    request_id = f"req_{uuid.uuid4().hex}"

    form = citizen.get(f"/sign-up?request={request_id}")
    assert f'name="request" value="{request_id}"' in form.text
    started = citizen.post("/sign-up", email=email, password=PASSWORD, request=request_id)
    assert started.headers["location"] == f"/sign-up/verify-email?request={request_id}"
    page = citizen.get(started.headers["location"])
    assert f'name="request" value="{request_id}"' in page.text
    assert f"/sign-up/resend-code?request={request_id}" in page.text

    # No /authorize request has this id: the journey ends on an explanation, not a loop.
    finished = citizen.post("/sign-up/verify-email", code=read_code(email), request=request_id)
    assert finished.status_code == 400
    assert "Your sign-in request has expired" in finished.text


@pytest.mark.parametrize("path", ["/sign-in", "/sign-up", "/account", "/identity-check"])
def test_a_malformed_request_id_is_refused(running_platform, path):
    answer = httpx.get(f"{running_platform.gateway_url}{path}?request=%3Cscript%3E", timeout=15)
    assert answer.status_code == 400
    assert "This link is not valid" in answer.text
    assert "<script>" not in answer.text
