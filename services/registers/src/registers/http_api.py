"""The registers public REST API (FastAPI)."""

from fastapi import FastAPI


def create_app() -> FastAPI:
    """The registers FastAPI app; probes and metrics are added by the runtime."""
    return FastAPI(title="govplat registers: OpenRegister v1 compatible registers", version="1.0.0")
