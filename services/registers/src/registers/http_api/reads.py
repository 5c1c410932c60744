"""The public read API: OpenRegister v1 under ``/registers/{name}/`` (no credential).

Paths (each also with a ``.json`` or ``.csv`` suffix; the singular forms that
openregister-client uses, ``record/``, ``entry/``, ``item/`` and ``proof/entry/``,
are served directly rather than redirected, saving a round trip)::

    /registers/                                 the registers
    /registers/{name}/  and  /register          the register
    /records  /records/{key}  /records/{key}/entries  /records/{field}/{value}
    /entries  /entries/{n}  /items/sha-256:{hex}
    /download-rsf  /download-rsf/{start}  /download-rsf/{start}/{end}  /download-register
    /proof/register/merkle:sha-256
    /proof/entries/{n}/{size}/merkle:sha-256  /proof/consistency/{m}/{n}/merkle:sha-256
    /checkpoint  /checkpoints/{size}  /checkpoint-key
"""

from __future__ import annotations

import json
import tempfile
import time
import zipfile
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from registers import hashing, rsf
from registers.errors import bad_request, not_found
from registers.http_api import formats
from registers.service import proofs, reading

PROOF = "merkle:sha-256"
#: Largest number accepted in a path or query (entry numbers, sizes, pages).
MAX_NUMBER = 10**15


def number(text: str, name: str, *, minimum: int = 1) -> int:
    """A decimal number from a path or query, refused with 400 when it is not one."""
    if not text.isdigit() or not text.isascii() or len(text) > 16:
        raise bad_request(f"{name} must be a whole number")
    value = int(text)
    if value < minimum or value > MAX_NUMBER:
        raise bad_request(f"{name} must be between {minimum} and {MAX_NUMBER}")
    return value


def query_number(request: Request, name: str, default: int, *, minimum: int = 1) -> int:
    """A numeric query parameter (``page-index``, ``page-size``, ``start``, ``limit``)."""
    values = request.query_params.getlist(name)
    if not values:
        return default
    if len(values) > 1:
        raise bad_request(f"{name} is given more than once")
    return number(values[0], name, minimum=minimum)


def _hash(digest: bytes) -> str:
    return hashing.format_hash(digest)


def build_router(context) -> APIRouter:
    """The read routes, over the service layer."""
    router = APIRouter()
    db = context.db

    @router.get("/registers", include_in_schema=False)
    @router.get("/registers/", summary="The registers")
    async def registers_index(request: Request) -> Response:
        formats.json_only(request)
        async with db.read() as session:
            return JSONResponse(await reading.list_registers(session, context))

    @router.get("/registers/{name}", include_in_schema=False)
    @router.get("/registers/{name}/", include_in_schema=False)
    @router.get("/registers/{name}/register", summary="A register: counts and definition")
    async def register_info(name: str, request: Request) -> Response:
        formats.json_only(request)
        async with db.read() as session:
            return JSONResponse(await reading.register_info(session, context, name))

    async def _records_page(request: Request, name: str, field: str | None, value: str | None):
        page_index = query_number(request, "page-index", 1)
        page_size = query_number(request, "page-size", reading.DEFAULT_PAGE_SIZE)
        async with db.read() as session:
            if field is None:
                page = await reading.records(session, context, name, page_index, page_size)
            else:
                page = await reading.records_with_value(
                    session, context, name, field, value, page_index, page_size
                )
        headers = formats.links(
            f"page-index={page_index + 1}&page-size={page_size}" if page.has_next else None,
            f"page-index={page_index - 1}&page-size={page_size}" if page_index > 1 else None,
        )
        return formats.records_response(request, page.records, page.fields, headers=headers)

    @router.get("/registers/{name}/records", summary="Records, a page at a time")
    async def records(name: str, request: Request) -> Response:
        return await _records_page(request, name, None, None)

    @router.get("/registers/{name}/records/{key}", summary="A record")
    @router.get("/registers/{name}/record/{key}", include_in_schema=False)
    async def record(name: str, key: str, request: Request) -> Response:
        async with db.read() as session:
            found, fields = await reading.record(session, context, name, key)
        headers = {
            "Link": f'</registers/{name}/records/{quote(key)}/entries>; rel="version-history"'
        }
        return formats.records_response(request, found, fields, headers=headers)

    @router.get("/registers/{name}/records/{key}/entries", summary="A record's entries")
    @router.get("/registers/{name}/record/{key}/entries", include_in_schema=False)
    async def record_entries(name: str, key: str, request: Request) -> Response:
        async with db.read() as session:
            found = await reading.record_entries(session, name, key)
        return formats.entries_response(request, found)

    @router.get("/registers/{name}/records/{field}/{value}", summary="Records by field value")
    async def records_by_value(name: str, field: str, value: str, request: Request) -> Response:
        return await _records_page(request, name, field, value)

    @router.get("/registers/{name}/entries", summary="Entries, a page at a time")
    async def entries(name: str, request: Request) -> Response:
        start = query_number(request, "start", 1)
        limit = query_number(request, "limit", reading.DEFAULT_PAGE_SIZE)
        async with db.read() as session:
            found, total = await reading.entries(session, name, start, limit)
        headers = formats.links(
            f"start={start + limit}&limit={limit}" if start + limit <= total else None,
            f"start={max(1, start - limit)}&limit={limit}" if start > 1 else None,
        )
        return formats.entries_response(request, found, headers=headers)

    @router.get("/registers/{name}/entries/{entry_number}", summary="An entry")
    @router.get("/registers/{name}/entry/{entry_number}", include_in_schema=False)
    async def entry(name: str, entry_number: str, request: Request) -> Response:
        value = number(entry_number, "the entry number")
        async with db.read() as session:
            found = await reading.entry(session, name, value)
        return formats.entries_response(request, [found])

    @router.get("/registers/{name}/items/{item_hash}", summary="An item by its hash")
    @router.get("/registers/{name}/item/{item_hash}", include_in_schema=False)
    async def item(name: str, item_hash: str, request: Request) -> Response:
        async with db.read() as session:
            found, fields = await reading.item(session, context, name, item_hash)
        return formats.item_response(request, found, fields)

    async def _rsf(name: str, start: int | None, end: int | None) -> Response:
        session_cm = db.read()
        session = await session_cm.__aenter__()
        try:
            lines = await reading.download_rsf(session, name, start, end)
        except BaseException:
            await session_cm.__aexit__(None, None, None)
            raise

        async def body():
            try:
                buffer = []
                async for line in lines:
                    buffer.append(line)
                    if len(buffer) >= 1000:
                        yield "".join(buffer).encode()
                        buffer = []
                if buffer:
                    yield "".join(buffer).encode()
            finally:
                await session_cm.__aexit__(None, None, None)

        return StreamingResponse(
            body(),
            media_type=rsf.MEDIA_TYPE,
            headers={
                "Content-Disposition": f'attachment; filename="rsf-{int(time.time() * 1000)}.rsf"'
            },
        )

    @router.get("/registers/{name}/download-rsf", summary="The register as RSF")
    async def download_rsf(name: str) -> Response:
        return await _rsf(name, None, None)

    @router.get("/registers/{name}/download-rsf/{start}", summary="RSF from a tree size")
    async def download_rsf_from(name: str, start: str) -> Response:
        return await _rsf(name, number(start, "start", minimum=0), None)

    @router.get("/registers/{name}/download-rsf/{start}/{end}", summary="RSF between sizes")
    async def download_rsf_range(name: str, start: str, end: str) -> Response:
        return await _rsf(name, number(start, "start", minimum=0), number(end, "end", minimum=0))

    @router.get("/registers/{name}/download-register", summary="The register as a zip")
    async def download_register(name: str) -> Response:
        spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
        async with db.read() as session:
            info = await reading.register_info(session, context, name)
            lines = await reading.download_rsf(session, name)
            with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("register.json", json.dumps(info))
                user = 0
                async for line in lines:
                    parts = line.rstrip("\n").split("\t")
                    if parts[0] == "add-item":
                        digest = hashing.item_digest(parts[1]).hex()
                        archive.writestr(f"item/{digest}.json", parts[1])
                    elif parts[0] == "append-entry" and parts[1] == "user":
                        user += 1
                        archive.writestr(
                            f"entry/{user}.json",
                            json.dumps(
                                {
                                    "index-entry-number": str(user),
                                    "entry-number": str(user),
                                    "entry-timestamp": parts[3],
                                    "key": parts[2],
                                    "item-hash": parts[4].split(";"),
                                }
                            ),
                        )
        size = spool.tell()
        spool.seek(0)

        def chunks():
            with spool:
                while block := spool.read(64 * 1024):
                    yield block

        return StreamingResponse(
            chunks(),
            media_type="application/octet-stream",
            headers={
                "Content-Disposition": f'attachment; filename="{name}-{int(time.time() * 1000)}.zip"',
                "Content-Length": str(size),
                "Cache-Control": "private, max-age=60",
            },
        )

    @router.get(f"/registers/{{name}}/proof/register/{PROOF}", summary="The root hash")
    async def register_proof(name: str) -> Response:
        async with db.read() as session:
            found = await proofs.root(session, name)
        return JSONResponse(
            {"proof-identifier": PROOF, "root-hash": _hash(found.root), "total-entries": found.size}
        )

    @router.get(
        f"/registers/{{name}}/proof/entries/{{entry_number}}/{{size}}/{PROOF}",
        summary="An inclusion proof",
    )
    @router.get(
        f"/registers/{{name}}/proof/entry/{{entry_number}}/{{size}}/{PROOF}",
        include_in_schema=False,
    )
    async def entry_proof(name: str, entry_number: str, size: str) -> Response:
        n, tree_size = number(entry_number, "entry-number"), number(size, "the tree size")
        async with db.read() as session:
            found = await proofs.inclusion(session, name, n, tree_size)
        return JSONResponse(
            {
                "proof-identifier": PROOF,
                "entry-number": str(n),
                "merkle-audit-path": [_hash(node) for node in found.nodes],
            }
        )

    @router.get(
        f"/registers/{{name}}/proof/consistency/{{first}}/{{second}}/{PROOF}",
        summary="A consistency proof",
    )
    async def consistency_proof(name: str, first: str, second: str) -> Response:
        m, n = number(first, "the first size"), number(second, "the second size")
        async with db.read() as session:
            found = await proofs.consistency(session, name, m, n)
        return JSONResponse(
            {
                "proof-identifier": PROOF,
                "merkle-consistency-nodes": [_hash(node) for node in found.nodes],
            }
        )

    @router.get("/registers/{name}/checkpoint", summary="The latest signed checkpoint")
    async def latest_checkpoint(name: str) -> Response:
        async with db.read() as session:
            note = await proofs.checkpoint(session, name)
        return PlainTextResponse(note)

    @router.get("/registers/{name}/checkpoints/{size}", summary="The checkpoint of a size")
    async def checkpoint_at(name: str, size: str) -> Response:
        value = number(size, "the tree size")
        async with db.read() as session:
            note = await proofs.checkpoint(session, name, value)
        return PlainTextResponse(note)

    @router.get("/registers/{name}/checkpoint-key", summary="The checkpoints' public key")
    async def checkpoint_key(name: str) -> Response:
        async with db.read() as session:
            await reading.register_info(session, context, name)
        signer = await context.signer()
        return PlainTextResponse(signer.verifier_key + "\n")

    @router.get("/registers/{name}/{rest:path}", include_in_schema=False)
    async def unknown(name: str, rest: str) -> Response:
        raise not_found("HTTP 404 Not Found")

    return router
