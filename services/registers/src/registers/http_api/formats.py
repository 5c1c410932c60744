"""Representations: JSON and CSV as openregister-java writes them, and paging links.

- The format is the path's ``.json`` / ``.csv`` suffix when there is one (it wins over
  ``Accept``), else ``text/csv`` in ``Accept``, else JSON (OpenRegister ``rest-api.md``).
  The formats GOV.UK removed in 2018 (``.tsv``, ``.ttl``, ``.xlsx``, ``.yaml``) answer
  410 Gone.
- CSV: ``text/csv; charset=UTF-8``, CRLF line endings, a header row; records are
  flat (the entry columns, then the register's fields); values of cardinality n are
  joined with ``;``.
- ``Link`` headers are relative, query-only, as openregister-java sends them:
  ``<?page-index=2&page-size=100>; rel="next"``.
"""

from __future__ import annotations

import csv
import io
import json

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from registers.errors import RegisterError

JSON = "json"
CSV = "csv"
CSV_MEDIA_TYPE = "text/csv; charset=UTF-8"
GONE_SUFFIXES = (".tsv", ".ttl", ".xlsx", ".yaml")
ENTRY_COLUMNS = ["index-entry-number", "entry-number", "entry-timestamp", "key"]


class SuffixMiddleware:
    """Plain ASGI middleware: takes a ``.json``/``.csv`` suffix off paths under
    ``/registers/`` (recording it as ``scope["state"]["format"]``) and answers the
    removed formats' suffixes with 410."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/registers/"):
            path: str = scope["path"]
            lowered = path.lower()
            if lowered.endswith(GONE_SUFFIXES):
                body = json.dumps(
                    {"code": 410, "message": "this format is no longer offered: use JSON or CSV"}
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 410,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
            for suffix in (".json", ".csv"):
                if lowered.endswith(suffix):
                    scope = dict(scope)
                    scope["state"] = {**scope.get("state", {}), "format": suffix[1:]}
                    scope["path"] = path[: -len(suffix)]
                    scope["raw_path"] = scope["path"].encode()
                    break
        await self.app(scope, receive, send)


def wanted_format(request: Request) -> str:
    """``json`` or ``csv``: the suffix, else the ``Accept`` header, else JSON."""
    chosen = request.scope.get("state", {}).get("format")
    if chosen:
        return chosen
    accept = request.headers.get("accept", "")
    return CSV if "text/csv" in accept and "application/json" not in accept else JSON


def json_only(request: Request) -> None:
    """Refuse CSV for a resource that has only JSON (406)."""
    if request.scope.get("state", {}).get("format") == CSV:
        raise RegisterError("NOT_ACCEPTABLE", "this resource is offered as JSON only", status=406)


def _cell(value) -> str:
    if isinstance(value, list):
        return ";".join(value)
    return "" if value is None else str(value)


def csv_response(header: list[str], rows: list[list], **kwargs) -> Response:
    """A CSV answer (CRLF, header row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return Response(out.getvalue(), media_type=CSV_MEDIA_TYPE, **kwargs)


def records_response(request: Request, records: dict, fields: list[str], **kwargs) -> Response:
    """Records keyed by key (JSON) or one CSV row per record item."""
    if wanted_format(request) == JSON:
        return JSONResponse(records, **kwargs)
    rows = []
    for record in records.values():
        for item in record["item"]:
            rows.append([record[c] for c in ENTRY_COLUMNS] + [item.get(f) for f in fields])
    return csv_response(ENTRY_COLUMNS + fields, rows, **kwargs)


def entries_response(request: Request, entries: list[dict], **kwargs) -> Response:
    """Entries as a JSON array or CSV rows."""
    if wanted_format(request) == JSON:
        return JSONResponse(entries, **kwargs)
    columns = [*ENTRY_COLUMNS, "item-hash"]
    return csv_response(columns, [[e[c] for c in columns] for e in entries], **kwargs)


def item_response(request: Request, item: dict, fields: list[str]) -> Response:
    """An item as JSON or one CSV row."""
    if wanted_format(request) == JSON:
        return JSONResponse(item)
    return csv_response(fields, [[item.get(f) for f in fields]])


def links(next_query: str | None, previous_query: str | None) -> dict[str, str]:
    """A ``Link`` header (RFC 8288) with relative query-only next/previous links."""
    parts = []
    if next_query:
        parts.append(f'<?{next_query}>; rel="next"')
    if previous_query:
        parts.append(f'<?{previous_query}>; rel="previous"')
    return {"Link": ", ".join(parts)} if parts else {}
