"""The error answers of a service's OpenAPI document, as the service really gives them.

FastAPI documents a ``422`` ``HTTPValidationError`` for every operation that has
parameters or a body. None of govplat's services answers that: each one turns a
request it cannot read into a ``400`` in its API family's own format (Notify's
``errors`` envelope, Pay's ``code``/``description``, OpenRegister's ``code``/``message``,
RFC 6749's ``error``/``error_description``), and the gateway in front answers its own
refusals (401/403, 404, 413, 414, 429, 502-504) in the same formats. A client
generated from FastAPI's document, or a contract test such as schemathesis's
``response_schema_conformance``, would be told the wrong thing.

:func:`document_errors` makes the document say what is true: the ``422`` entries and
their component schemas go, and each operation gets ``4XX`` and ``5XX`` responses with
the JSON schema of its family's error body, chosen by the operation's path.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

#: FastAPI's component schemas for its own 422 answer.
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def error_object(required: dict[str, dict], optional: dict[str, dict] | None = None) -> dict:
    """A JSON schema for an error body: an object with the ``required`` properties
    (name → schema) and the ``optional`` ones; other properties are allowed."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


#: ``{"error": ..., "message": ...}``: the admin APIs' errors (every service).
ADMIN_ERROR = error_object({"error": {"type": "string"}, "message": {"type": "string"}})

#: The gateway's own ``{"error": ...}`` (an unknown path, a backend that is down) on
#: paths outside the public API families (the admin APIs, the registers).
GATEWAY_PLAIN_ERROR = error_object({"error": {"type": "string"}})


def document_errors(app: FastAPI, error_schema_for: Callable[[str], dict | None]) -> None:
    """Replace ``app``'s generated OpenAPI document by one whose error answers are true.

    ``error_schema_for(path)`` gives the JSON schema (OpenAPI 3.1 dialect) of the error
    body for the operations of ``path`` (the path template, e.g.
    ``/v2/notifications/{notification_id}``), or ``None`` to leave its errors
    undocumented. Every operation loses FastAPI's ``422`` and gets ``4XX`` and ``5XX``
    with that schema; the document is built once, on first use, as FastAPI does.
    """

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
            servers=app.servers,
        )
        for path, operations in document.get("paths", {}).items():
            schema = error_schema_for(path)
            for operation in operations.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                responses = operation["responses"]
                responses.pop("422", None)
                if schema is None:
                    continue
                for status in ("4XX", "5XX"):
                    responses.setdefault(
                        status,
                        {
                            "description": "Refused (4XX) or failed (5XX), in this API's format",
                            "content": {"application/json": {"schema": schema}},
                        },
                    )
        components = document.get("components", {}).get("schemas", {})
        for name in FASTAPI_VALIDATION_SCHEMAS:
            components.pop(name, None)
        if "components" in document and not components:
            document["components"].pop("schemas", None)
            if not document["components"]:
                document.pop("components")
        app.openapi_schema = document
        return document

    app.openapi = openapi
