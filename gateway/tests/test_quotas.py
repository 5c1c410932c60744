"""Quotas per credential in each API family's format, in memory and in Redis."""

from __future__ import annotations

import socket
import uuid

import pytest

from gateway.quotas import Quotas
from govkit.principal import Principal


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


STORAGES = ["memory://"] + (["redis://127.0.0.1:6379/0"] if redis_reachable() else [])


def principal(key_type: str = "live") -> Principal:
    return Principal(
        organisation_id="org", service_id=str(uuid.uuid4()), key_type=key_type, api="notify"
    )


@pytest.mark.parametrize("storage", STORAGES)
async def test_notify_posts_over_the_per_minute_rate_get_notifys_rate_limit_error(storage):
    quotas = Quotas(storage, notify_per_minute=5)
    caller = principal("team")
    outcomes = [
        await quotas.check("notify", caller, "POST", "/v2/notifications/email") for _ in range(6)
    ]
    assert outcomes[:5] == [None] * 5
    refused = outcomes[5]
    assert refused.status_code == 429
    assert refused.body == (
        b'{"status_code":429,"errors":[{"error":"RateLimitError",'
        b'"message":"Exceeded rate limit for key type TEAM of 5 requests per 60 seconds"}]}'
    )
    assert await quotas.check("notify", caller, "GET", "/v2/notifications") is None, (
        "GETs are not limited"
    )


@pytest.mark.parametrize("storage", STORAGES)
async def test_the_daily_limit_per_type_is_counted_for_live_keys_and_not_for_test_keys(storage):
    quotas = Quotas(storage, notify_daily={"email": 2, "sms": 2, "letter": 2})
    live = principal("live")
    answers = [
        await quotas.check("notify", live, "POST", "/v2/notifications/email") for _ in range(3)
    ]
    assert answers[:2] == [None, None]
    assert (
        b"Exceeded send limits (email: 2) for today" in answers[2].body
        and b"TooManyRequestsError" in answers[2].body
    )
    assert await quotas.check("notify", live, "POST", "/v2/notifications/sms") is None, (
        "each type has its own count"
    )
    test_key = Principal(
        organisation_id="org", service_id=live.service_id, key_type="test", api="notify"
    )
    assert all(
        [
            await quotas.check("notify", test_key, "POST", "/v2/notifications/email") is None
            for _ in range(5)
        ]
    )


@pytest.mark.parametrize("storage", STORAGES)
async def test_pay_posts_over_15_a_second_get_p0900_and_accounts_are_counted_apart(storage):
    quotas = Quotas(storage)
    account, other = principal("live"), principal("live")
    answers = [await quotas.check("payments", account, "POST", "/v1/payments") for _ in range(16)]
    assert answers[:15] == [None] * 15
    assert (
        answers[15].status_code == 429
        and answers[15].body == b'{"code":"P0900","description":"Too many requests"}'
    )
    assert await quotas.check("payments", other, "POST", "/v1/payments") is None
    assert await quotas.check("payments", account, "GET", "/v1/payments") is None


@pytest.mark.skipif(not redis_reachable(), reason="no Redis at 127.0.0.1:6379")
async def test_two_gateway_replicas_sharing_redis_share_one_count():
    first, second = Quotas("redis://127.0.0.1:6379/0"), Quotas("redis://127.0.0.1:6379/0")
    caller = principal("live")
    answers = [
        await (first if n % 2 else second).check("payments", caller, "POST", "/v1/payments")
        for n in range(16)
    ]
    assert answers.count(None) == 15 and answers[15] is not None


def test_an_unknown_storage_is_refused():
    with pytest.raises(ValueError):
        Quotas("memcached://x")
