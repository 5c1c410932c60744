"""The write API: appending to a register, with the scope ``registers:write:<name>``.

The gateway requires an OAuth access token for any POST under ``/registers`` and
forwards the caller as a signed ``X-Govplat-Principal``; this service verifies it
(:class:`govkit.principal.PrincipalGuard`) and checks the scope.

- ``POST /registers/{name}/load-rsf`` (``Content-Type: application/uk-gov-rsf``): an
  RSF batch, streamed. Answers ``{"success": true, "message": "success", ...}`` as
  openregister-java does, with the new size and root hash.
- ``POST /registers/{name}/entries`` (``Content-Type: application/json``):
  ``{"entries": [{"key": "GB", "item": {...}}, ...], "assert-root-hash": "sha-256:..."}``
  (``items`` instead of ``item`` for several items). Answers 201 with the appended
  entries, the new root hash and checkpoint.

Refusals: 401 (no or bad principal), 403 (scope), 415 (content type), 400 naming the
refused line or entry, 409 (``assert-root-hash``); nothing of a refused batch is kept.
"""

from __future__ import annotations

import codecs
import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from govkit.principal import HEADER
from registers import hashing, rsf
from registers.errors import RegisterError, bad_request, refused_line
from registers.service import appending, reading

#: Largest JSON body accepted (bytes); the gateway's own limit is lower.
MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_ENTRIES = 100_000


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def authorise(context, request: Request, name: str) -> None:
    """Refuse unless the request carries a valid principal with ``registers:write:<name>``.

    Raises:
        govkit.errors.UnauthenticatedError: no or bad principal (401).
        RegisterError: 403 without the scope.
    """
    principal = context.guard.verify(request.headers.get(HEADER))
    if not principal.has_scope(f"registers:write:{name}"):
        raise RegisterError(
            "INSUFFICIENT_SCOPE",
            f"writing to the {name[:64]} register needs the scope registers:write:{name[:64]}",
            status=403,
        )


async def rsf_lines(request: Request):
    """The request body's lines, decoded as UTF-8 as they arrive.

    Raises:
        RegisterError: 400 for bytes that are not UTF-8, or a line over 1 MiB (naming it).
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    pending = ""
    number = 0
    async for chunk in request.stream():
        try:
            pending += decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            line = number + pending.count("\n") + chunk[: exc.start].count(b"\n") + 1
            raise refused_line(line, "the RSF is not UTF-8") from None
        *complete, pending = pending.split("\n")
        for line in complete:
            number += 1
            yield line.removesuffix("\r")
        if len(pending) > rsf.MAX_LINE_BYTES:
            raise refused_line(number + 1, "the line is longer than 1 MiB", "LINE_TOO_LONG")
    try:
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise refused_line(number + 1, "the RSF is not UTF-8") from None
    if pending:
        yield pending.removesuffix("\r")


def _result(result: appending.AppendResult) -> dict:
    return {
        "total-entries": result.tree_size,
        "appended-entries": max(result.appended, 0),
        "root-hash": hashing.format_hash(result.root_hash),
        "checkpoint": result.note,
    }


def parse_entries(body: bytes) -> tuple[list[appending.NewEntry], bytes | None]:
    """The entries of a JSON append request, and its ``assert-root-hash``.

    Raises:
        RegisterError: 400 for a body that is not UTF-8 JSON of the documented shape.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise bad_request("the body is not UTF-8", "INVALID_JSON") from None
    except (ValueError, RecursionError):
        raise bad_request("the body is not valid JSON", "INVALID_JSON") from None
    if isinstance(data, list):
        data = {"entries": data}
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise bad_request('the body must be {"entries": [{"key": ..., "item": {...}}, ...]}')
    unknown = set(data) - {"entries", "assert-root-hash"}
    if unknown:
        raise bad_request(f"unknown member {sorted(unknown)[0][:40]!r}")
    entries = data["entries"]
    if not entries:
        raise bad_request("there are no entries to append")
    if len(entries) > MAX_ENTRIES:
        raise bad_request(f"at most {MAX_ENTRIES} entries at once; use load-rsf for more")
    parsed = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise refused_line(number, 'an entry is {"key": "...", "item": {...}}', "INVALID_ENTRY")
        if set(entry) - {"key", "item", "items"} or ("item" in entry) == ("items" in entry):
            raise refused_line(
                number, 'an entry has a "key" and either "item" or "items"', "INVALID_ENTRY"
            )
        items = [entry["item"]] if "item" in entry else entry["items"]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise refused_line(number, "items must be JSON objects", "INVALID_ITEM")
        parsed.append(appending.NewEntry(entry["key"], items))
    expected = data.get("assert-root-hash")
    if expected is None:
        return parsed, None
    try:
        return parsed, hashing.parse_hash(expected if isinstance(expected, str) else "")
    except ValueError as exc:
        raise bad_request(f"assert-root-hash: {exc}") from None


def build_router(context) -> APIRouter:
    """The write routes, over the service layer."""
    router = APIRouter()

    @router.post("/registers/{name}/load-rsf", summary="Append an RSF batch")
    async def load_rsf(name: str, request: Request) -> Response:
        authorise(context, request, name)
        if _media_type(request) != rsf.MEDIA_TYPE:
            raise RegisterError(
                "UNSUPPORTED_MEDIA_TYPE", f"load-rsf takes {rsf.MEDIA_TYPE}", status=415
            )
        result = await appending.load_rsf(context, name, rsf_lines(request))
        return JSONResponse({"success": True, "message": "success", **_result(result)})

    @router.post("/registers/{name}/entries", summary="Append entries (JSON)", status_code=201)
    async def append(name: str, request: Request) -> Response:
        authorise(context, request, name)
        if _media_type(request) != "application/json":
            raise RegisterError(
                "UNSUPPORTED_MEDIA_TYPE", "entries are appended as application/json", status=415
            )
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_JSON_BYTES:
                raise RegisterError("BODY_TOO_LARGE", "the body is over 16 MiB", status=413)
        entries, expected = parse_entries(bytes(body))
        result = await appending.append_entries(context, name, entries, assert_root_hash=expected)
        async with context.db.read() as session:
            appended, _ = await reading.entries(
                session,
                name,
                result.first_entry_number,
                min(max(result.appended, 1), reading.MAX_PAGE_SIZE),
            )
        return JSONResponse({"entries": appended, **_result(result)}, status_code=201)

    return router
