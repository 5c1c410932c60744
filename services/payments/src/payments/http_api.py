"""The payments public REST API (FastAPI)."""

from fastapi import FastAPI


def create_app() -> FastAPI:
    """The payments FastAPI app; probes and metrics are added by the runtime."""
    return FastAPI(title="govplat payments: GOV.UK Pay compatible API v1", version="1.0.0")
