"""The sandbox portal in Chromium, through the gateway of the running platform."""

from __future__ import annotations

import httpx


def test_the_merged_openapi_document_tags_every_service(running_platform):
    document = httpx.get(f"{running_platform.gateway_url}/openapi.json", timeout=10).json()
    assert {tag["name"] for tag in document["tags"]} == {
        "identity",
        "payments",
        "notify",
        "registers",
    }
    assert document["paths"]["/token"]["post"]["tags"] == ["identity"]
    assert "/healthz" not in document["paths"]


def test_the_docs_page_loads_every_services_operations_in_a_browser(running_platform, page):
    document = httpx.get(f"{running_platform.gateway_url}/openapi.json", timeout=10).json()
    operations = [
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    ]
    assert operations, "the services publish operations"

    page.goto(f"{running_platform.gateway_url}/sandbox/docs")
    page.wait_for_selector(".opblock", timeout=20000)

    shown = {
        (
            block.locator(".opblock-summary-method").inner_text().strip(),
            block.get_attribute("data-path")
            or block.locator(".opblock-summary-path").inner_text().strip().replace("\u200b", ""),
        )
        for block in page.locator(".opblock").all()
    }
    assert set(operations) <= shown, set(operations) - shown
    assert page.locator("h1").first.inner_text() == "API documentation"


def test_the_portal_pages_are_accessible_and_list_the_test_cards(running_platform, page):
    page.goto(f"{running_platform.gateway_url}/sandbox/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("link", name="Skip to main content").count() == 1
    page.get_by_role("link", name="Test cards", exact=True).click()
    table = page.get_by_role("table", name="Sandbox card numbers")
    assert "4000000000000002" in table.inner_text() and "Declined" in table.inner_text()
    headers = [h.inner_text() for h in table.locator("th[scope=col]").all()]
    assert headers == ["Card number", "Brand", "Result"]
