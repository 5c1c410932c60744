"""The notify public REST API (FastAPI)."""

from fastapi import FastAPI


def create_app() -> FastAPI:
    """The notify FastAPI app; probes and metrics are added by the runtime."""
    return FastAPI(title="govplat notify: GOV.UK Notify compatible API v2", version="1.0.0")
