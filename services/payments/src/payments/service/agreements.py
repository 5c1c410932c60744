"""Recurring payments: agreements and the payments taken on them (GOV.UK Pay).

1. The service creates an agreement (``POST /v1/agreements``: ``reference``,
   ``description``, ``user_identifier``): ``created``.
2. The payer makes a first web payment with ``set_up_agreement`` = its id; when that
   payment succeeds, the agreement is ``active`` and holds the card (brand, type, last
   digits, expiry, name, address; the acquirer keeps a token, never the number).
3. The service creates payments with ``authorisation_mode: agreement`` and the
   ``agreement_id``: no payer, no ``next_url``; the platform authorises them on the
   stored card straight away (the ``payments-recurring`` consumer), to ``success`` or
   ``failed`` (``P0010``).
4. ``POST /v1/agreements/{id}/cancel`` ends it (``cancelled``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from govkit.db import Database, utcnow
from govkit.events import Event
from govplat.payments.v1 import events_pb2
from payments import repository
from payments.acquirer import AUTHORISED, Acquirer
from payments.errors import PayError, missing, not_found, unparseable
from payments.models import Agreement, IdempotencyKey, Payment
from payments.service import REJECTED, Caller, new_id
from payments.service.payments import transition
from payments.service.settlement import ask, capture
from payments.validation import idempotency_key_of, text_of


def agreement_request(data: object) -> tuple[str, str, str | None]:
    """(reference, description, user_identifier) of a create-agreement body.

    Raises:
        PayError: 400 ``P2197`` not an object; 400 ``P2101`` a missing field; 422/400
            ``P2102`` a bad value.
    """
    if not isinstance(data, dict):
        raise unparseable("P2197")
    values = []
    for field, required in (("reference", True), ("description", True), ("user_identifier", False)):
        if required and (
            data.get(field) is None
            or (isinstance(data.get(field), str) and not data[field].strip())
        ):
            raise missing(field, "P2101")
        try:
            values.append(text_of(data, field, 255, required=required, illegal_characters=False))
        except PayError as error:
            raise PayError("P2102", error.description, status=error.status, field=field) from None
    return values[0] or "", values[1] or "", values[2]


async def create_agreement(
    db: Database,
    caller: Caller,
    data: object,
    idempotency_key: str | None,
    idempotency_seconds: float,
) -> tuple[Agreement, bool]:
    """Create an agreement; (the agreement, whether an ``Idempotency-Key`` gave back an
    earlier one).

    Raises:
        PayError: the body's errors; 409 ``P0191`` for a reused key with another body.
    """
    reference, description, user_identifier = agreement_request(data)
    key = idempotency_key_of(idempotency_key)
    digest = hashlib.sha256(json.dumps([reference, description, user_identifier]).encode()).digest()
    for _ in range(2):
        try:
            async with db.write() as session:
                now = utcnow()
                if key is not None:
                    seen = await repository.idempotency_key(
                        session, caller.account, "agreement", key
                    )
                    if seen is not None and seen.created_at < now - timedelta(
                        seconds=idempotency_seconds
                    ):
                        await session.delete(seen)
                        await session.flush()
                        seen = None
                    if seen is not None:
                        if bytes(seen.request_digest) != digest:
                            raise PayError(
                                "P0191",
                                "The `Idempotency-Key` you sent in the request header has already "
                                "been used to create an agreement.",
                                status=409,
                            )
                        found = await repository.agreement(session, seen.resource_id)
                        assert found is not None
                        return found, True
                agreement = Agreement(
                    id=new_id(),
                    account=caller.account,
                    service_id=caller.service_id,
                    reference=reference,
                    description=description,
                    user_identifier=user_identifier,
                    status="created",
                    created_at=now,
                )
                session.add(agreement)
                if key is not None:
                    session.add(
                        IdempotencyKey(
                            account=caller.account,
                            resource="agreement",
                            key=key,
                            request_digest=digest,
                            resource_id=agreement.id,
                            created_at=now,
                        )
                    )
                await session.flush()
                return agreement, False
        except IntegrityError:
            if key is None:
                raise
    raise PayError("P2198", "Downstream system error", status=500)


async def get_agreement(db: Database, caller: Caller, agreement_id: str) -> Agreement:
    """One of the account's agreements.

    Raises:
        PayError: 404 ``P2200``.
    """
    async with db.read() as session:
        found = await repository.agreement(session, agreement_id, account=caller.account)
    if found is None:
        raise not_found("P2200")
    return found


async def cancel_agreement(db: Database, caller: Caller, agreement_id: str) -> None:
    """End an agreement that is created or active.

    Raises:
        PayError: 404 ``P2500``; 400 ``P2501`` when it has ended already.
    """
    async with db.write() as session:
        found = await repository.agreement(session, agreement_id, account=caller.account, lock=True)
        if found is None:
            raise not_found("P2500")
        if found.status not in ("created", "active"):
            raise PayError("P2501", "Cancellation of agreement failed", status=400)
        found.status = "cancelled"
        found.cancelled_at = utcnow()


async def activate(session, payment: Payment, instrument_token: str | None) -> None:
    """After a set-up payment succeeded: its agreement holds the card and is ``active``."""
    if payment.set_up_agreement is None:
        return
    agreement = await repository.agreement(session, payment.set_up_agreement, lock=True)
    if agreement is None or agreement.status != "created":
        return
    agreement.status = "active"
    agreement.instrument_token = instrument_token
    agreement.instrument_created_at = utcnow()
    agreement.instrument = json.dumps(
        {
            k: v
            for k, v in {
                "last_digits_card_number": payment.card_last_digits,
                "cardholder_name": payment.cardholder_name,
                "expiry_date": payment.card_expiry,
                "billing_address": json.loads(payment.billing_address)
                if payment.billing_address
                else None,
                "card_brand": payment.card_brand,
                "card_type": payment.card_type,
            }.items()
            if v is not None
        },
        ensure_ascii=False,
    )


@dataclass
class RecurringPayments:
    """Takes agreement payments (the ``payments-recurring`` consumer's effect)."""

    db: Database
    acquirer: Acquirer
    origin: str

    @staticmethod
    def accepts(event: Event) -> bool:
        """Whether a ``PaymentCreated`` is an agreement payment's (the consumer's
        ``accepts``: the others are acknowledged without a look at the database)."""
        return event.parse(events_pb2.PaymentCreated).authorisation_mode == "agreement"

    async def on_event(self, event: Event) -> None:
        """Authorise a new agreement payment on its agreement's card; ``success`` then
        capture (:mod:`payments.service.settlement`).

        Raises:
            AcquirerUnavailable: the acquirer did not answer (the event is redelivered).
        """
        created = event.parse(events_pb2.PaymentCreated)
        if created.authorisation_mode != "agreement":
            return
        async with self.db.read() as session:
            payment = await repository.payment(session, created.payment_id)
            if payment is None or payment.status != "created":
                return
            agreement = await repository.agreement(session, payment.agreement_id or "")
        token = agreement.instrument_token if agreement else None
        if agreement is None or agreement.status != "active" or not token:
            outcome, provider_id = "declined", None
        else:
            # Unanswered: raised, so the event comes again (calls are keyed by the id).
            answer = await ask(self.acquirer.authorise_recurring(payment.id, token, payment.amount))
            outcome, provider_id = answer.outcome, answer.provider_id
        async with self.db.write() as session:
            payment = await repository.payment(session, created.payment_id, lock=True)
            if payment is None or payment.status != "created":
                return
            payment.provider_id = provider_id
            if agreement is not None:
                card = json.loads(agreement.instrument or "{}")
                payment.card_brand = card.get("card_brand")
                payment.card_type = card.get("card_type")
                payment.card_last_digits = card.get("last_digits_card_number")
                payment.card_expiry = card.get("expiry_date")
                payment.cardholder_name = card.get("cardholder_name")
            await transition(session, payment, "started", origin=self.origin)
            if outcome == AUTHORISED:
                await transition(session, payment, "submitted", origin=self.origin)
                await transition(session, payment, "success", origin=self.origin)
            else:
                await transition(session, payment, "failed", REJECTED, origin=self.origin)
        if outcome == AUTHORISED:
            await capture(self.db, self.acquirer, created.payment_id)
