"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, and the
verification codes the platform publishes on NATS JetStream.

Playwright never downloads a browser here: the tests use ``/usr/bin/chromium``
(``apt-get install chromium``) and are skipped, with the reason, when it is absent.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from govkit.testing import run_coroutine

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
IDENTITY_STREAM = "GOVPLAT_IDENTITY"
CODE_SUBJECT = "govplat.identity.v1.verification_code_requested"


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """A headless Chromium (``/usr/bin/chromium``) for one test module.

    Not for the whole session: Playwright's sync API keeps its event loop running
    on the main thread until it stops, and asyncio tests that run after the
    browser tests in the same process could not start their own loop."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is absent: install Debian's chromium package to run browser tests"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI installs it in .ci/run)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium) -> Iterator[object]:
    """A page in a fresh browser context (no cookies), failing fast on a hung load."""
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


async def _codes_for(nats_url: str, destination: str) -> list[str]:
    """Every code sent to ``destination`` so far, oldest first (an ephemeral pull
    consumer over the identity stream)."""
    from govkit.events import connect
    from govplat.identity.v1 import events_pb2

    nc = await connect(nats_url, name="test", wait_for_server=False)
    try:
        js = nc.jetstream()
        subscription = await js.pull_subscribe(CODE_SUBJECT, stream=IDENTITY_STREAM)
        codes = []
        while True:
            try:
                messages = await subscription.fetch(batch=200, timeout=0.5)
            except TimeoutError:  # nats' own and asyncio's: no more messages
                break
            for message in messages:
                event = events_pb2.VerificationCodeRequested()
                event.ParseFromString(message.data)
                if event.destination == destination:
                    codes.append(event.code)
                await message.ack()
        await subscription.unsubscribe()
        return codes
    finally:
        await nc.close()


@pytest.fixture
def read_code(running_platform):
    """``read_code(destination, after=0)``: the newest verification code sent to
    ``destination`` (an email address, or an E.164 phone number for text messages),
    waiting (up to 20 s) until more than ``after`` codes were sent there."""

    def read(destination: str, after: int = 0) -> str:
        deadline = time.monotonic() + 20
        while True:
            codes = run_coroutine(_codes_for(running_platform.nats_url, destination))
            if len(codes) > after:
                return codes[-1]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no verification code published within 20 s ({len(codes)} seen)"
                )
            time.sleep(0.2)

    return read
