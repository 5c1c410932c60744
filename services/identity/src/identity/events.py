"""The events identity consumes: the registers' ``EntryAppended`` of the ``country``
register, which keep identity's read copy of it (:mod:`identity.service.countries`).

The consumer ``identity-country-register`` is durable and starts from the first event
the ``GOVPLAT_REGISTERS`` stream holds, so a new identity gets every entry appended in
the stream's 7 days; the start-up load (:mod:`identity.registers_client`) gets the
rest. Events of other registers are acknowledged unread (their ``ce-subject`` is
``<register>/<entry number>``). Each event is applied in the consumer's transaction,
which also records it in the inbox.
"""

from __future__ import annotations

from datetime import UTC

from sqlalchemy.ext.asyncio import AsyncSession

from govkit.consumer import ConsumerSpec
from govkit.events import Event, stream_name, subject_for
from govplat.registers.v1 import events_pb2 as registers_events
from identity.service import countries

#: The durable consumer's name.
COUNTRY_CONSUMER = "identity-country-register"


def is_country_entry(event: Event) -> bool:
    """Whether an ``EntryAppended`` event is of the ``country`` register (by its
    ``ce-subject``, without parsing it)."""
    return event.subject.startswith(f"{countries.REGISTER}/")


async def country_entry_appended(session: AsyncSession, event: Event) -> None:
    """Apply an entry of the ``country`` register to the read copy (a newer record of
    its key replaces the stored one; an older or repeated entry changes nothing)."""
    appended = event.parse(registers_events.EntryAppended)
    if appended.register != countries.REGISTER:
        return
    await countries.apply_entries(
        session,
        [
            countries.RegisterEntry(
                key=appended.key,
                items_json=list(appended.items_json),
                entry_number=appended.entry_number,
                entry_timestamp=appended.entry_timestamp.ToDatetime(tzinfo=UTC),
            )
        ],
    )


def consumers() -> list[ConsumerSpec]:
    """What identity consumes."""
    return [
        ConsumerSpec(
            durable=COUNTRY_CONSUMER,
            stream=stream_name("registers"),
            subjects=[subject_for(registers_events.EntryAppended)],
            handler=country_entry_appended,
            accepts=is_country_entry,
        )
    ]
