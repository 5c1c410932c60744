"""Fixtures for every test in the repository come from govkit's pytest plugin."""

# With --import-mode=importlib, pytest names gateway/tests/test_x.py
# "gateway.tests.test_x" and, unless the installed ``gateway`` package is already
# imported, registers the repository folder gateway/ as the module ``gateway``,
# which hides gateway.routing, gateway.proxy ... from the gateway's own tests.
import gateway  # noqa: F401

pytest_plugins = ["govkit.testing"]
