"""The registers gRPC contract over a real grpc.aio server in-process."""

from __future__ import annotations

import grpc
import pytest

from govkit.testing.grpc import grpc_channel
from govplat.registers.v1 import registers_service_pb2 as pb
from govplat.registers.v1 import registers_service_pb2_grpc
from registers import checkpoints, grpc_api
from registers.datatypes import FieldDefinition


@pytest.fixture
async def stub(registers):
    await registers.define("town", [FieldDefinition("town", "string")])
    registrar = grpc_api.registrar(registers.context)
    async with grpc_channel("registers", registrar, [grpc_api.SERVICE_NAME]) as channel:
        yield registers_service_pb2_grpc.RegistersServiceStub(channel), registers


def metadata(registers, *scopes):
    token = registers.principal(*scopes)["X-Govplat-Principal"]
    return (("x-govplat-principal", token),)


def append(keys, request_id=""):
    return pb.AppendEntriesRequest(
        register="town",
        request_id=request_id,
        entries=[pb.NewEntry(key=k, items_json=[f'{{"town": "{k}"}}']) for k in keys],
    )


async def test_appends_need_the_scope_and_a_request_id_makes_them_idempotent(stub):
    stub, registers = stub
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await stub.AppendEntries(append(["a"]))
    with pytest.raises(grpc.aio.AioRpcError) as scoped:
        await stub.AppendEntries(append(["a"]), metadata=metadata(registers, "registers:write:x"))
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert scoped.value.code() == grpc.StatusCode.PERMISSION_DENIED
    auth = metadata(registers, "registers:write:town")
    first = await stub.AppendEntries(append(["a", "b"], "r1"), metadata=auth)
    again = await stub.AppendEntries(append(["a", "b"], "r1"), metadata=auth)
    assert (
        [e.entry_number for e in first.entries] == [1, 2] == [e.entry_number for e in again.entries]
    )
    assert first.tree_head.tree_size == again.tree_head.tree_size == 2
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await stub.AppendEntries(append(["c"], "r1"), metadata=auth)
    assert reused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        request = append(["c"])
        request.assert_root_hash = b"\x00" * 32
        await stub.AppendEntries(request, metadata=auth)
    assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stub.AppendEntries(
            pb.AppendEntriesRequest(
                register="town", entries=[pb.NewEntry(key="a", items_json=["{"])]
            ),
            metadata=auth,
        )
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as bad_id:
        await stub.AppendEntries(append(["d"], "bad\x00id"), metadata=auth)
    assert bad_id.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_reads_tree_heads_and_proofs(stub):
    stub, registers = stub
    auth = metadata(registers, "registers:write:town")
    await stub.AppendEntries(append([f"k{i}" for i in range(7)]), metadata=auth)
    described = (await stub.GetRegister(pb.GetRegisterRequest(register="town"))).register
    assert (described.entry_count, described.record_count, list(described.fields)) == (
        7,
        7,
        ["town"],
    )
    listed = await stub.ListRegisters(pb.ListRegistersRequest(page_size=2))
    assert len(listed.registers) == 2 and listed.next_page_token
    page = await stub.ListRecords(pb.ListRecordsRequest(register="town", page_size=5))
    rest = await stub.ListRecords(
        pb.ListRecordsRequest(register="town", page_size=5, page_token=page.next_page_token)
    )
    assert [r.key for r in [*page.records, *rest.records]] == [f"k{i}" for i in range(7)]
    assert rest.next_page_token == ""
    record = (await stub.GetRecord(pb.GetRecordRequest(register="town", key="k3"))).record
    assert record.items_json == ['{"town":"k3"}'] and record.entry.entry_number == 4
    entries = await stub.ListEntries(pb.ListEntriesRequest(register="town", page_size=4))
    assert [e.entry_number for e in entries.entries] == [
        1,
        2,
        3,
        4,
    ] and entries.next_page_token == "5"
    entry = (await stub.GetEntry(pb.GetEntryRequest(register="town", entry_number=7))).entry
    assert entry.key == "k6"
    head = await stub.GetTreeHead(pb.GetTreeHeadRequest(register="town"))
    verified = checkpoints.verify(head.tree_head.checkpoint, head.verifier_key)
    assert (
        verified.size == head.tree_head.tree_size == 7 and verified.root == head.tree_head.root_hash
    )
    inclusion = await stub.GetInclusionProof(
        pb.GetInclusionProofRequest(register="town", entry_number=3, tree_size=0)
    )
    assert inclusion.tree_size == 7 and len(inclusion.inclusion_path) == 3
    consistency = await stub.GetConsistencyProof(
        pb.GetConsistencyProofRequest(register="town", first_tree_size=3, second_tree_size=7)
    )
    assert len(consistency.consistency_path) >= 2
    for call, request in (
        (stub.GetRegister, pb.GetRegisterRequest(register="nowhere")),
        (stub.GetRecord, pb.GetRecordRequest(register="town", key="zz")),
        (stub.GetEntry, pb.GetEntryRequest(register="town", entry_number=99)),
        (stub.GetRecord, pb.GetRecordRequest(register="town", key="a\x00b")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await call(request)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    for call, request in (
        (stub.GetInclusionProof, pb.GetInclusionProofRequest(register="town", entry_number=9)),
        (
            stub.GetConsistencyProof,
            pb.GetConsistencyProofRequest(register="town", first_tree_size=0),
        ),
        (stub.ListEntries, pb.ListEntriesRequest(register="town", page_token="x")),
        (stub.ListRecords, pb.ListRecordsRequest(register="town", page_size=-1)),
        (stub.ListRegisters, pb.ListRegistersRequest(page_token="\x00")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
