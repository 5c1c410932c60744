"""The registers gRPC API (``govplat.registers.v1.RegistersService``, protos/govplat/registers/v1/).

Reads are public, as on REST. ``AppendEntries`` needs the gateway's principal
(``x-govplat-principal`` metadata) with the scope ``registers:write:<register>``.
Page tokens are the next record position or entry number, in decimal. Refusals are
:class:`registers.errors.RegisterError`, mapped to gRPC codes with an ``ErrorInfo``
by :mod:`govkit.grpc_server`.
"""

from __future__ import annotations

import base64
import json
import re

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from govplat.registers.v1 import registers_service_pb2 as pb
from govplat.registers.v1 import registers_service_pb2_grpc
from registers import checkpoints, hashing, repository
from registers.errors import RegisterError, bad_request
from registers.service import appending, proofs, reading
from registers.service import schema as schemas

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["RegistersService"].full_name
DEFAULT_PAGE_SIZE = 100
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _time(text: str | None) -> Timestamp | None:
    if not text:
        return None
    stamp = Timestamp()
    stamp.FromJsonString(text)
    return stamp


def _page(page_size: int, page_token: str) -> tuple[int, int]:
    if page_size < 0:
        raise bad_request("page_size must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, reading.MAX_PAGE_SIZE)
    if not page_token:
        return size, 1
    if not page_token.isdigit() or len(page_token) > 16 or int(page_token) < 1:
        raise bad_request("page_token is not one this service gave")
    return size, int(page_token)


def entry_pb(entry: dict) -> pb.Entry:
    """An ``Entry`` from an entry's OpenRegister JSON."""
    return pb.Entry(
        entry_number=int(entry["entry-number"]),
        key=entry["key"],
        entry_timestamp=_time(entry["entry-timestamp"]),
        item_hashes=entry["item-hash"],
    )


def record_pb(record: dict) -> pb.Record:
    """A ``Record`` from a record's OpenRegister JSON."""
    return pb.Record(
        key=record["key"],
        entry=pb.Entry(
            entry_number=int(record["entry-number"]),
            key=record["key"],
            entry_timestamp=_time(record["entry-timestamp"]),
            item_hashes=[
                hashing.format_hash(hashing.item_digest(hashing.canonical_json(i)))
                for i in record["item"]
            ],
        ),
        items_json=[hashing.canonical_json(i) for i in record["item"]],
    )


def tree_head_pb(note: str) -> pb.TreeHead:
    """A ``TreeHead`` from a signed checkpoint."""
    text, _, signatures = note.partition("\n\n")
    checkpoint = checkpoints.parse(text + "\n")
    blob = base64.b64decode(signatures.strip().rpartition(" ")[2])
    return pb.TreeHead(
        tree_size=checkpoint.size,
        root_hash=checkpoint.root,
        timestamp=_time(checkpoint.time),
        signature=blob[4:],
        checkpoint=note,
    )


class RegistersServiceServicer(registers_service_pb2_grpc.RegistersServiceServicer):
    """Implements ``RegistersService`` over the service layer."""

    def __init__(self, context) -> None:
        self.context = context
        self.db = context.db

    async def _register_pb(self, session, reg) -> pb.Register:
        schema = await schemas.load_schema(session, self.context, reg)
        return pb.Register(
            name=reg.name,
            description=schema.record.get("text", ""),
            fields=schema.field_names,
            entry_count=reg.tree_size,
            record_count=reg.total_records,
            update_time=_time(reg.last_updated),
        )

    async def GetRegister(self, request, context):
        async with self.db.read() as session:
            reg = await schemas.get_register_or_404(session, request.register)
            return pb.GetRegisterResponse(register=await self._register_pb(session, reg))

    async def ListRegisters(self, request, context):
        if request.page_size < 0:
            raise bad_request("page_size must not be negative")
        if request.page_token and not reading.valid_name(request.page_token):
            raise bad_request("page_token is not one this service gave")
        size = min(request.page_size or DEFAULT_PAGE_SIZE, 1000)
        async with self.db.read() as session:
            rows = await repository.list_registers(
                session, after=request.page_token, limit=size + 1
            )
            registers = [await self._register_pb(session, reg) for reg in rows[:size]]
        token = rows[size - 1].name if len(rows) > size else ""
        return pb.ListRegistersResponse(registers=registers, next_page_token=token)

    async def GetRecord(self, request, context):
        async with self.db.read() as session:
            found, _ = await reading.record(session, self.context, request.register, request.key)
        return pb.GetRecordResponse(record=record_pb(found[request.key]))

    async def ListRecords(self, request, context):
        size, first = _page(request.page_size, request.page_token)
        async with self.db.read() as session:
            reg = await schemas.get_register_or_404(session, request.register)
            rows = await repository.records_page(session, reg.id, first, first + size - 1)
            contents = await repository.find_items(
                session,
                reg.id,
                [d for row in rows for d in hashing.split_digests(bytes(row.item_digests))],
            )
        records = [record_pb(reading.record_json(row, contents)) for row in rows]
        token = str(first + size) if first + size - 1 < reg.total_records else ""
        return pb.ListRecordsResponse(records=records, next_page_token=token)

    async def GetEntry(self, request, context):
        async with self.db.read() as session:
            found = await reading.entry(session, request.register, request.entry_number)
        return pb.GetEntryResponse(entry=entry_pb(found))

    async def ListEntries(self, request, context):
        size, start = _page(request.page_size, request.page_token)
        async with self.db.read() as session:
            reg = await schemas.get_register_or_404(session, request.register)
            rows = await repository.get_entries(session, reg.id, start, start + size)
        token = str(start + size) if start + size <= reg.tree_size else ""
        return pb.ListEntriesResponse(
            entries=[entry_pb(reading.entry_json(row)) for row in rows], next_page_token=token
        )

    async def AppendEntries(self, request, context):
        principal = self.context.guard.from_grpc(context)
        if not principal.has_scope(f"registers:write:{request.register}"):
            raise RegisterError(
                "INSUFFICIENT_SCOPE",
                f"appending needs the scope registers:write:{request.register[:64]}",
                status=403,
            )
        if not request.entries:
            raise bad_request("there are no entries to append")
        entries = []
        for number, new in enumerate(request.entries, start=1):
            items = []
            for text in new.items_json:
                try:
                    items.append(json.loads(text))
                except (ValueError, RecursionError):
                    raise bad_request(f"entry {number}: an item is not valid JSON") from None
            entries.append(appending.NewEntry(new.key, items))
        expected = request.assert_root_hash if request.HasField("assert_root_hash") else None
        if request.request_id and not REQUEST_ID.match(request.request_id):
            raise bad_request("request_id is 1 to 128 letters, digits and '-_.:'")
        if request.request_id:
            result = await appending.append_once(
                self.context,
                request.register,
                entries,
                request_id=request.request_id,
                assert_root_hash=expected,
            )
        else:
            result = await appending.append_entries(
                self.context, request.register, entries, assert_root_hash=expected
            )
        async with self.db.read() as session:
            reg = await schemas.get_register_or_404(session, request.register)
            rows = await repository.get_entries(
                session, reg.id, result.first_entry_number, result.tree_size + 1
            )
        return pb.AppendEntriesResponse(
            entries=[entry_pb(reading.entry_json(row)) for row in rows],
            tree_head=tree_head_pb(result.note) if result.note else None,
        )

    async def GetTreeHead(self, request, context):
        async with self.db.read() as session:
            note = await proofs.checkpoint(session, request.register)
        signer = await self.context.signer()
        return pb.GetTreeHeadResponse(
            tree_head=tree_head_pb(note), verifier_key=signer.verifier_key
        )

    async def GetInclusionProof(self, request, context):
        async with self.db.read() as session:
            found = await proofs.inclusion(
                session, request.register, request.entry_number, request.tree_size or None
            )
        return pb.GetInclusionProofResponse(
            entry_number=request.entry_number, tree_size=found.size, inclusion_path=found.nodes
        )

    async def GetConsistencyProof(self, request, context):
        async with self.db.read() as session:
            found = await proofs.consistency(
                session,
                request.register,
                request.first_tree_size,
                request.second_tree_size or None,
            )
        return pb.GetConsistencyProofResponse(
            first_tree_size=request.first_tree_size,
            second_tree_size=found.size,
            consistency_path=found.nodes,
        )


def registrar(context):
    """A function that adds the registers servicer (over ``context``) to a gRPC server."""

    def register(server: grpc.aio.Server) -> None:
        registers_service_pb2_grpc.add_RegistersServiceServicer_to_server(
            RegistersServiceServicer(context), server
        )

    return register
