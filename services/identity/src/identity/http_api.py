"""The identity public REST API (FastAPI)."""

from fastapi import FastAPI


def create_app() -> FastAPI:
    """The identity FastAPI app; probes and metrics are added by the runtime."""
    return FastAPI(
        title="govplat identity: organisations, API keys and the OpenID Connect provider",
        version="1.0.0",
    )
