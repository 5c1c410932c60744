"""Identity's read copy of the ``country`` register and the citizen's postal address:
entries applied by entry number (newer wins, older and repeated ones change nothing),
the register's partial dates, ended and not-yet-started countries refused in an
address with a clear message, the copy kept by ``EntryAppended`` events from a real
NATS JetStream, the account page and ``/userinfo``'s ``address`` claim."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from govkit.consumer import EventConsumer
from govkit.db import utcnow
from govkit.events import cloudevent_headers, connect, ensure_streams, subject_for
from govplat.registers.v1 import events_pb2 as registers_events
from identity import events, models
from identity.models import PostalAddress
from identity.service import accounts, countries

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def entry(key: str, number: int, **item) -> countries.RegisterEntry:
    """An entry of the country register setting ``key`` to ``item``."""
    body = {"country": key, **{name.replace("_", "-"): value for name, value in item.items()}}
    return countries.RegisterEntry(key, [json.dumps(body)], number, WHEN)


async def apply(context, *entries: countries.RegisterEntry) -> None:
    await countries.apply_records(context.db, list(entries))


@pytest.fixture
def context(identity):
    return identity.context


async def test_a_newer_entry_replaces_a_record_and_an_older_or_repeated_one_changes_nothing(
    context,
):
    await apply(context, entry("DE", 10, name="Germany"))
    await apply(context, entry("DE", 12, name="Germany", end_date="1990-10-03"))
    await apply(context, entry("DE", 11, name="Deutschland"))  # older: arrives late
    await apply(context, entry("DE", 12, name="Repeated"))  # the same entry again

    found = await countries.get(context.db, "DE")
    assert (found.name, found.end_date, found.entry_number) == ("Germany", date(1990, 10, 3), 12)


async def test_a_batch_with_several_entries_of_one_key_keeps_the_newest(context):
    await apply(context, entry("FR", 3, name="France"), entry("FR", 1, name="Gaul"))
    assert (await countries.get(context.db, "FR")).name == "France"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2003", date(2003, 1, 1)),
        ("2003-07", date(2003, 7, 1)),
        ("2003-07-14", date(2003, 7, 14)),
        ("2003-07-14T10:00:00Z", date(2003, 7, 14)),
        (None, None),
        ("", None),
        ("14 July 2003", date.min),
        ("2003-02-30", date.min),
    ],
)
def test_register_dates_are_read_as_their_first_day_and_unreadable_ones_fail_closed(
    value, expected
):
    assert countries.parse_register_date(value, unreadable=date.min) == expected


def test_a_country_is_live_from_its_start_date_until_the_day_before_its_end_date():
    today = date(2026, 6, 1)
    country = countries.Country("XX", "X", None, date(2026, 6, 1), date(2026, 6, 2), 1)
    assert country.live(today)
    assert not country.live(date(2026, 6, 2))  # ends on its end-date
    assert not country.live(date(2026, 5, 31))  # not started
    assert countries.Country("XX", "X", None, None, None, 1).live(today)


async def test_a_country_is_found_by_its_code_or_its_names_in_any_case_and_spacing(context):
    await apply(
        context,
        entry("KR", 1, name="Korea, Republic of", official_name="Republic of Korea"),
        entry("GB", 2, name="United Kingdom"),
    )
    for typed in ("kr", " KR ", "korea, republic of", "KOREA  REPUBLIC OF", "Republic of Korea"):
        found, loaded = await countries.find(context.db, typed)
        assert loaded and found is not None and found.code == "KR", typed
    assert await countries.find(context.db, "Atlantis") == (None, True)


async def test_a_name_shared_by_an_ended_and_a_live_record_finds_the_live_one(context):
    await apply(
        context,
        entry("CS", 1, name="Serbia and Montenegro", end_date="2006-06-05"),
        entry("QS", 2, name="Serbia and Montenegro"),
    )
    found, _ = await countries.find(context.db, "serbia and montenegro")
    assert found.code == "QS"


async def address(context, account_id: str, country: str, **fields) -> accounts.AddressInfo:
    values = {"address_line_1": "10 Downing Street", "locality": "London", **fields}
    return await accounts.set_postal_address(context, account_id, country=country, **values)


async def new_account(identity) -> str:
    account_id, _ = await identity.signed_in()
    return account_id


async def test_an_address_in_a_live_country_is_stored_with_the_country_code(identity, context):
    await apply(context, entry("GB", 1, name="United Kingdom"))
    account_id = await new_account(identity)

    saved = await address(
        context,
        account_id,
        "united kingdom",
        address_line_2=" Westminster ",
        postal_code="sw1a 2aa",
    )

    assert saved.country == "GB" and saved.country_name == "United Kingdom"
    assert saved.address_lines == ("10 Downing Street", "Westminster")
    assert saved.postal_code == "SW1A 2AA"
    assert await accounts.postal_address(context, account_id) == saved


async def test_an_address_in_an_unknown_ended_or_future_country_is_refused_and_not_stored(
    identity, context
):
    today = countries.today()
    await apply(
        context,
        entry("SU", 1, name="USSR, Union of Soviet Socialist Republics", end_date="1992-08-30"),
        entry("QT", 2, name="Endland", end_date=today.isoformat()),
        entry("QU", 3, name="Futureland", start_date=(today + timedelta(days=1)).isoformat()),
    )
    account_id = await new_account(identity)
    expected = {
        "SU": "USSR, Union of Soviet Socialist Republics ended on 30 August 1992: enter the "
        "country the address is in now",
        "Endland": f"Endland ended on {today.day} {today:%B %Y}: enter the country the "
        "address is in now",
        "qu": "Futureland is not a country until",
        "Atlantis": "We do not know the country \u2018Atlantis\u2019: enter its name, like "
        "United Kingdom, or its 2-letter code, like GB",
    }
    for typed, message in expected.items():
        with pytest.raises(accounts.InvalidInput) as refused:
            await address(context, account_id, typed)
        assert refused.value.errors["country"].startswith(message), typed
    assert await accounts.postal_address(context, account_id) is None


async def test_an_unknown_country_is_echoed_without_its_control_or_bidi_characters(
    identity, context
):
    await apply(context, entry("GB", 1, name="United Kingdom"))
    account_id = await new_account(identity)
    with pytest.raises(accounts.InvalidInput) as refused:
        await address(context, account_id, "\u202eG\u0000B\u200bX")
    assert refused.value.errors["country"] == (
        "We do not know the country \u2018GBX\u2019: enter its name, like United Kingdom, "
        "or its 2-letter code, like GB"
    )


async def test_address_fields_are_checked_and_every_problem_is_reported_at_once(identity, context):
    await apply(context, entry("GB", 1, name="United Kingdom"))
    account_id = await new_account(identity)
    with pytest.raises(accounts.InvalidInput) as refused:
        await accounts.set_postal_address(
            context,
            account_id,
            address_line_1="  ",
            address_line_2="x" * 201,
            locality="Bath\u0000",
            postal_code="BA2 5AA; DROP",
            country="",
        )
    assert set(refused.value.errors) == {
        "address_line_1",
        "address_line_2",
        "locality",
        "postal_code",
        "country",
    }


async def test_no_address_is_checked_before_the_read_copy_holds_any_country(identity, context):
    account_id = await new_account(identity)
    with pytest.raises(accounts.CountryUnavailable):
        await address(context, account_id, "GB")


def entry_appended(register: str, key: str, number: int, item: dict) -> tuple[str, bytes, dict]:
    """An ``EntryAppended`` event as the registers' outbox relay publishes it."""
    message = registers_events.EntryAppended(
        register=register,
        entry_number=number,
        key=key,
        items_json=[json.dumps(item, separators=(",", ":"), sort_keys=True)],
        tree_size=number,
    )
    message.entry_timestamp.FromDatetime(WHEN)
    event_id = str(uuid.uuid4())
    headers = cloudevent_headers(
        event_id=event_id,
        message=message,
        source="//govplat/registers",
        subject=f"{register}/{number}",
        time=utcnow(),
    )
    headers["Nats-Msg-Id"] = event_id
    return subject_for(message), message.SerializeToString(), headers


async def test_entry_appended_events_from_jetstream_keep_the_copy_and_a_redelivery_changes_nothing(
    context, nats_server
):
    nc = await connect(nats_server.url, name="test")
    js = nc.jetstream()
    await ensure_streams(js)
    ended = entry_appended("country", "YU", 2, {"country": "YU", "end-date": "2003-07-14"})
    published = [
        entry_appended("country", "YU", 1, {"country": "YU", "name": "Yugoslavia"}),
        ended,
        ended,  # published twice: JetStream drops the copy (Nats-Msg-Id)
        entry_appended("language", "YUE", 3, {"language": "yue", "name": "Yue Chinese"}),
        entry_appended("country", "YU", 1, {"country": "YU", "name": "Yugoslavia"}),  # old again
    ]
    for subject, data, headers in published:
        await js.publish(subject, data, headers=headers)
    [spec] = events.consumers()
    consumer = EventConsumer(spec, db=context.db, tables=models.messaging, js=js)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        for _ in range(100):
            found = await countries.get(context.db, "YU")
            if found is not None and found.entry_number == 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the later, older event is handled too
    finally:
        stop.set()
        await task
        await nc.close()

    found = await countries.get(context.db, "YU")
    assert (found.name, found.end_date, found.entry_number) == ("YU", date(2003, 7, 14), 2)
    assert await countries.get(context.db, "YUE") is None
    async with context.db.read() as session:
        handled = list(await session.scalars(select(models.messaging.inbox.c.event_id)))
    assert len(handled) == 3  # two country events (one of them old), none for languages


async def test_the_account_page_takes_an_address_and_shows_a_refused_country_in_the_summary(
    identity, context
):
    await apply(
        context,
        entry("GB", 1, name="United Kingdom"),
        entry("DD", 2, name="German Democratic Republic", end_date="1990-10-03"),
    )
    _, cookie = await identity.signed_in()
    async with identity.http(cookies={accounts.SESSION_COOKIE: cookie}) as browser:
        form = await browser.get("/account/address")
        assert form.status_code == 200
        for name in ("address_line_1", "address_line_2", "locality", "postal_code", "country"):
            assert f'<label class="label" for="{name}">' in form.text
        fields = {
            "csrf_token": CSRF.search(form.text).group(1),
            "address_line_1": "1 Unter den Linden",
            "locality": "Berlin",
            "country": "German Democratic Republic",
        }
        refused = await browser.post("/account/address", data=fields)
        assert refused.status_code == 400
        assert refused.text.count("German Democratic Republic ended on 3 October 1990") == 2
        assert '<a href="#country">' in refused.text
        assert 'value="1 Unter den Linden"' in refused.text  # kept for the next try
        assert "<title>Error: Your postal address" in refused.text

        saved = await browser.post(
            "/account/address",
            data={
                **fields,
                "address_line_1": "10 Downing Street",
                "locality": "London",
                "country": "gb",
            },
        )
        assert saved.status_code == 303 and saved.headers["location"] == "/account?saved=address"
        page = (await browser.get(saved.headers["location"])).text
        assert "Your postal address has been saved" in page
        assert "10 Downing Street<br>London<br>United Kingdom" in page

        forged = await browser.post("/account/address", data={**fields, "csrf_token": "x"})
        assert forged.status_code == 403
    async with context.db.read() as session:
        stored = list(await session.scalars(select(PostalAddress)))
    assert [(a.street_address, a.country) for a in stored] == [("10 Downing Street", "GB")]


async def test_the_address_page_needs_a_signed_in_citizen(identity):
    async with identity.http() as browser:
        answer = await browser.get("/account/address")
    assert answer.status_code == 303 and answer.headers["location"] == "/sign-in"


async def test_the_operator_reads_a_record_of_the_copy_and_whether_it_is_live(identity, context):
    await apply(context, entry("SU", 7, name="USSR", end_date="1992-08-30"))
    token = {"Authorization": "Bearer " + "a" * 40}
    async with identity.http() as http:
        record = (await http.get("/admin/identity/countries/SU", headers=token)).json()
        listed = (await http.get("/admin/identity/countries", headers=token)).json()
        missing = await http.get("/admin/identity/countries/ZZ", headers=token)
        refused = await http.get("/admin/identity/countries/SU")
    assert record == {
        "country": "SU",
        "name": "USSR",
        "official_name": None,
        "start_date": None,
        "end_date": "1992-08-30",
        "entry_number": 7,
        "live": False,
    }
    assert listed["total"] == 1 and listed["last_entry_number"] == 7
    assert missing.status_code == 404 and missing.json()["error"] == "COUNTRY_NOT_FOUND"
    assert refused.status_code == 401
