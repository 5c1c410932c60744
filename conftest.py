"""Fixtures for every test in the repository come from govkit's pytest plugin."""

pytest_plugins = ["govkit.testing"]
