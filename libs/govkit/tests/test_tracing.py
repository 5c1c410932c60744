"""One trace id covers an HTTP request, the gRPC call it makes, the event that call
emits and the consumer that handles the event (in-memory span exporter)."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import grpc
import httpx
import uvicorn
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from govkit.consumer import ConsumerSpec
from govkit.db import Database
from govkit.events import stream_name
from govkit.nats_server import free_port
from govkit.outbox import add_event
from govkit.runtime import Component
from govkit.settings import ComponentSettings
from govkit.telemetry import configure_telemetry, current_trace_id, grpc_client_interceptors
from govplat.payments.v1 import events_pb2, payments_service_pb2, payments_service_pb2_grpc

_spec = importlib.util.spec_from_file_location(
    "outbox_worker", Path(__file__).with_name("outbox_worker.py")
)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)


async def test_one_trace_covers_http_grpc_the_event_and_its_consumer(database_url, nats_server):
    exporter = InMemorySpanExporter()
    configure_telemetry("tracing-test", processors=[SimpleSpanProcessor(exporter)])
    db = Database(database_url)
    await worker.create_schema(db)
    settings = ComponentSettings(
        component="payments", http_port=free_port(), grpc_port=free_port(), nats_url=nats_server.url
    )
    handled_in_trace: list[str] = []

    class Payments(payments_service_pb2_grpc.PaymentsServiceServicer):
        async def CreatePayment(self, request, context):
            async with db.write() as session:
                event = events_pb2.PaymentCreated(payment_id="pay-1", amount=request.amount)
                await add_event(
                    session, worker.tables, event, source="//govplat/payments", subject="pay-1"
                )
            return payments_service_pb2.CreatePaymentResponse()

    async def on_payment_created(session, event) -> None:
        handled_in_trace.append(current_trace_id())

    http_app = FastAPI()
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{settings.grpc_port}", interceptors=grpc_client_interceptors()
    )

    @http_app.post("/payments")
    async def create_payment() -> dict:
        stub = payments_service_pb2_grpc.PaymentsServiceStub(channel)
        await stub.CreatePayment(payments_service_pb2.CreatePaymentRequest(amount=1000), timeout=5)
        return {"trace_id": current_trace_id()}

    component = Component(
        name="payments",
        settings=settings,
        http_app=http_app,
        database=db,
        tables=worker.tables,
        grpc_register=lambda server: (
            payments_service_pb2_grpc.add_PaymentsServiceServicer_to_server(Payments(), server)
        ),
        consumers=[
            ConsumerSpec(
                durable="tracing-test",
                stream=stream_name("payments"),
                subjects=["govplat.payments.v1.payment_created"],
                handler=on_payment_created,
            )
        ],
    )
    await component.start()
    server = uvicorn.Server(
        uvicorn.Config(http_app, host="127.0.0.1", port=settings.http_port, log_config=None)
    )
    serving = asyncio.create_task(server.serve())
    try:
        await asyncio.wait_for(component.messaging_ready.wait(), timeout=10)
        while not server.started:
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient() as client:
            response = await client.post(f"http://127.0.0.1:{settings.http_port}/payments")
        assert response.status_code == 200
        for _ in range(200):
            if handled_in_trace:
                break
            await asyncio.sleep(0.05)
    finally:
        server.should_exit = True
        await serving
        await channel.close()
        await component.stop()

    trace_id = response.json()["trace_id"]
    assert trace_id and handled_in_trace == [trace_id]
    spans = [
        s for s in exporter.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id
    ]
    kinds = {(span.kind, span.name) for span in spans}
    assert (SpanKind.SERVER, "POST /payments") in kinds
    assert (SpanKind.CLIENT, "/govplat.payments.v1.PaymentsService/CreatePayment") in kinds
    assert (SpanKind.SERVER, "/govplat.payments.v1.PaymentsService/CreatePayment") in kinds
    assert (SpanKind.PRODUCER, "govplat.payments.v1.payment_created publish") in kinds
    assert (SpanKind.CONSUMER, "govplat.payments.v1.payment_created process") in kinds
    by_id = {span.context.span_id: span for span in spans}
    consumer = next(s for s in spans if s.kind is SpanKind.CONSUMER)
    producer = next(s for s in spans if s.kind is SpanKind.PRODUCER)
    assert consumer.parent.span_id == producer.context.span_id, (
        "the consumer is a child of the publish"
    )
    assert by_id[producer.parent.span_id].kind is SpanKind.SERVER, (
        "published in the context of the gRPC call"
    )
