"""The portal's sandbox credentials page in Chromium, through the running platform's
gateway: create a set, then use its Notify key at the gateway."""

from __future__ import annotations

import httpx

from govkit.testing.platform import notify_token


def test_a_developer_creates_sandbox_credentials_and_their_notify_key_gets_past_the_gateway(
    running_platform, page
):
    gateway = running_platform.gateway_url
    page.goto(f"{gateway}/sandbox/")
    page.get_by_role("navigation", name="Sandbox").get_by_role(
        "link", name="Sandbox credentials"
    ).click()
    assert page.locator("h1").inner_text() == "Sandbox credentials"
    assert "govplat sandbox credentials --json" in page.locator("main").inner_text()

    page.get_by_role("button", name="Create sandbox credentials").click()

    assert page.locator("h1").inner_text() == "Your sandbox credentials"
    assert "shown once" in page.locator("main").inner_text()
    key = page.locator("#notify-api-key").inner_text().strip()
    service_id = page.locator("#service-id").inner_text().strip()
    assert key[-73:-37] == service_id
    assert page.get_by_text("Notify API key (test)").count() == 1

    before = running_platform.requests_seen_by("notify")
    answer = httpx.get(
        f"{gateway}/v2/notifications",
        headers={"Authorization": f"Bearer {notify_token(key)}"},
        timeout=10,
    )
    # Only a request the gateway authenticated is forwarded (a refused one never
    # reaches notify), whatever notify, still being built, answers it.
    assert running_platform.requests_seen_by("notify") == before + 1, answer.text


def test_the_credentials_page_works_without_javascript_and_labels_its_form(
    running_platform, chromium
):
    context = chromium.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{running_platform.gateway_url}/sandbox/credentials")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_role("link", name="Skip to main content").count() == 1
        page.get_by_role("button", name="Create sandbox credentials").click()
        assert page.locator("h1").inner_text() == "Your sandbox credentials"
        assert page.locator("#pay-api-key").inner_text().startswith("api_test_")
    finally:
        context.close()
