"""Loading the ``country`` register's records from registers at start (gRPC
``govplat.registers.v1.RegistersService/ListRecords``).

JetStream keeps the registers' events for 7 days, so events alone cannot fill the
read copy of a new identity database, or of one whose identity was stopped for
longer. At every start identity therefore reads every current record of the
register (pages of :data:`PAGE_SIZE`) and applies each like an event: only when it
is newer than what the copy holds. Until registers answers it tries again, waiting
:data:`RETRY_SECONDS` (doubling up to :data:`MAX_RETRY_SECONDS`); identity serves
meanwhile, and addresses wait for the copy (``CountryUnavailable``) only while it
is empty.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC

import grpc

from govkit.db import Database
from govkit.telemetry import grpc_client_interceptors
from govplat.registers.v1 import registers_service_pb2 as pb
from govplat.registers.v1 import registers_service_pb2_grpc
from identity.service import countries

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
#: Seconds per ``ListRecords`` call.
CALL_TIMEOUT_SECONDS = 10.0
RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 10.0


def entries_of(records: Sequence[pb.Record]) -> list[countries.RegisterEntry]:
    """The records of a ``ListRecords`` page as the read copy applies them."""
    return [
        countries.RegisterEntry(
            key=record.key,
            items_json=list(record.items_json),
            entry_number=record.entry.entry_number,
            entry_timestamp=record.entry.entry_timestamp.ToDatetime(tzinfo=UTC),
        )
        for record in records
    ]


async def record_pages(
    stub: registers_service_pb2_grpc.RegistersServiceStub, register: str
) -> AsyncIterator[list[countries.RegisterEntry]]:
    """Every page of ``register``'s current records.

    Raises:
        grpc.aio.AioRpcError: registers refused or did not answer.
    """
    token = ""
    while True:
        page = await stub.ListRecords(
            pb.ListRecordsRequest(register=register, page_size=PAGE_SIZE, page_token=token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
        yield entries_of(page.records)
        token = page.next_page_token
        if not token:
            return


async def load_country_register(db: Database, address: str) -> int:
    """Apply every current record of the ``country`` register, read from registers at
    ``address`` (gRPC ``host:port``), to the read copy; returns how many were read.

    Raises:
        grpc.aio.AioRpcError: registers refused or did not answer.
    """
    total = 0
    async with grpc.aio.insecure_channel(
        address, interceptors=grpc_client_interceptors()
    ) as channel:
        stub = registers_service_pb2_grpc.RegistersServiceStub(channel)
        async for page in record_pages(stub, countries.REGISTER):
            total += await countries.apply_records(db, page)
    return total


async def keep_loading(db: Database, address: str, stop: asyncio.Event) -> int | None:
    """:func:`load_country_register` until it succeeds once (or ``stop`` is set);
    returns how many records were read, ``None`` if stopped first."""
    delay = RETRY_SECONDS
    while not stop.is_set():
        try:
            count = await load_country_register(db, address)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # registers not up yet, or gone: try again
            log.warning(
                "cannot load the country register from registers yet: %s", type(exc).__name__
            )
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, MAX_RETRY_SECONDS)
            continue
        log.info("country register loaded from registers: %d records", count)
        return count
    return None
