"""govkit.openapi: a service's document states its errors as the service answers them."""

from __future__ import annotations

from fastapi import FastAPI

from govkit.openapi import document_errors, error_object

ERROR = error_object({"code": {"type": "string"}})


def app_with_two_routes() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: int) -> dict:
        return {"id": thing_id}

    @app.get("/pages/{name}")
    async def page(name: str) -> dict:
        return {}

    document_errors(app, lambda path: ERROR if path.startswith("/v1/") else None)
    return app


def test_fastapis_422_is_gone_and_4xx_and_5xx_carry_the_familys_error_schema():
    document = app_with_two_routes().openapi()
    responses = document["paths"]["/v1/things/{thing_id}"]["get"]["responses"]
    assert "422" not in responses
    for status in ("4XX", "5XX"):
        assert responses[status]["content"]["application/json"]["schema"] == ERROR
    assert "components" not in document, "HTTPValidationError and ValidationError are gone"


def test_a_path_without_a_family_schema_only_loses_the_422():
    responses = app_with_two_routes().openapi()["paths"]["/pages/{name}"]["get"]["responses"]
    assert set(responses) == {"200"}


def test_the_document_is_built_once():
    app = app_with_two_routes()
    assert app.openapi() is app.openapi()
