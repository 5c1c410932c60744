"""Citizens' accounts (``identity.service.accounts``) against a real, migrated database,
on SQLite and (with ``GOVPLAT_TEST_DATABASE_URL``) PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func, select, update

from govkit.db import Database, utcnow
from govkit.migrations import upgrade
from govplat.identity.v1 import events_pb2
from identity.config import Settings
from identity.context import Context
from identity.models import (
    Account,
    AuthorizationRequest,
    BrowserSession,
    OneTimeCode,
    messaging,
)
from identity.security import SecretBox, sha256_hex
from identity.service import accounts

PASSWORD = "correct horse battery staple"
MAX_FAILURES = 3
#: Long enough that a locked account is still locked a few slow sign-ins later on a busy
#: machine (argon2 takes its time), short enough to wait for its end.
LOCKOUT_SECONDS = 4


@pytest.fixture
async def context(database_url):
    await asyncio.to_thread(upgrade, "identity", database_url)
    settings = Settings(
        database_url=database_url,
        secret_key="x" * 40,
        admin_token="y" * 40,
        max_failed_sign_ins=MAX_FAILURES,
        lockout_seconds=LOCKOUT_SECONDS,
    )
    db = Database(database_url)
    accounts.UNKNOWN_EMAILS.clear()
    yield Context(settings=settings, db=db, box=SecretBox(settings.secret_key.get_secret_value()))
    await db.dispose()


async def outbox_events(context: Context) -> list[tuple[str, str, bytes]]:
    """(ce-type, ce-subject, payload) of every outbox row, in order."""
    outbox = messaging.outbox
    async with context.db.read() as session:
        rows = (
            await session.execute(
                select(outbox.c.headers, outbox.c.payload).order_by(outbox.c.position)
            )
        ).all()
    return [
        (json.loads(h)["ce-type"], json.loads(h).get("ce-subject", ""), bytes(p)) for h, p in rows
    ]


async def codes_sent(context: Context) -> list[events_pb2.VerificationCodeRequested]:
    found = []
    for ce_type, _, payload in await outbox_events(context):
        if ce_type == "govplat.identity.v1.VerificationCodeRequested":
            message = events_pb2.VerificationCodeRequested()
            message.ParseFromString(payload)
            found.append(message)
    return found


async def last_code(context: Context) -> str:
    return (await codes_sent(context))[-1].code


async def get_account(context: Context, account_id: str) -> Account:
    async with context.db.read() as session:
        return await session.get(Account, account_id)


async def verified_account(
    context: Context, email: str = "citizen@example.com", password: str = PASSWORD
) -> str:
    result = await accounts.sign_up(context, email, password)
    await accounts.verify_email(context, result.account_id, await last_code(context))
    return result.account_id


async def with_totp(context: Context, email: str = "citizen@example.com") -> tuple[str, str]:
    account_id = await verified_account(context, email)
    setup = await accounts.start_totp_setup(context, account_id)
    await accounts.confirm_totp(context, account_id, pyotp.TOTP(setup.secret).now())
    return account_id, setup.secret


def next_totp(secret: str) -> str:
    """The code of the step after the current one: still accepted (one step of drift)
    after a code of the current step was used, e.g. to confirm the app."""
    return pyotp.TOTP(secret).at(utcnow(), counter_offset=1)


def wrong_totp(secret: str) -> str:
    """A 6-digit code accepted by no step of the current window."""
    totp = pyotp.TOTP(secret)
    now = utcnow()
    valid = {totp.at(now + timedelta(seconds=s)) for s in (-60, -30, 0, 30, 60)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in valid)


# -- sign-up -------------------------------------------------------------------


async def test_sign_up_stores_the_account_and_emits_both_events_with_the_code(context):
    result = await accounts.sign_up(context, "  Citizen.One@Example.COM ", PASSWORD)

    assert result.created
    account = await get_account(context, result.account_id)
    assert account.email == "citizen.one@example.com"
    assert account.email_verified_at is None
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash

    events = await outbox_events(context)
    assert [e[0] for e in events] == [
        "govplat.identity.v1.AccountCreated",
        "govplat.identity.v1.VerificationCodeRequested",
    ]
    assert {e[1] for e in events} == {result.account_id}
    created = events_pb2.AccountCreated()
    created.ParseFromString(events[0][2])
    assert created.account_id == result.account_id

    (sent,) = await codes_sent(context)
    assert sent.account_id == result.account_id
    assert sent.channel == events_pb2.VERIFICATION_CHANNEL_EMAIL
    assert sent.purpose == events_pb2.VERIFICATION_PURPOSE_SIGN_UP
    assert sent.destination == "citizen.one@example.com"
    assert len(sent.code) == 6 and sent.code.isdigit()
    lifetime = sent.expire_time.ToDatetime().replace(tzinfo=utcnow().tzinfo) - utcnow()
    assert timedelta(minutes=14) < lifetime <= timedelta(minutes=15)

    async with context.db.read() as session:
        (code,) = (await session.scalars(select(OneTimeCode))).all()
    assert code.purpose == "verify_email"
    assert code.code_hash == sha256_hex(sent.code)
    assert sent.code not in code.code_hash


@pytest.mark.parametrize(
    ("email", "password", "fields"),
    [
        ("not-an-email", PASSWORD, {"email"}),
        ("", PASSWORD, {"email"}),
        ("a@example.com", "short", {"password"}),
        ("a@example.com", "Password123", {"password"}),
        ("a@example.com", "qwertyuiop", {"password"}),
        ("a@example.com", "a@example.com", {"password"}),
        ("nope", "", {"email", "password"}),
    ],
)
async def test_sign_up_refuses_bad_emails_and_weak_passwords(context, email, password, fields):
    with pytest.raises(accounts.InvalidInput) as caught:
        await accounts.sign_up(context, email, password)

    assert set(caught.value.errors) == fields
    assert await outbox_events(context) == []


async def test_signing_up_again_with_a_verified_email_creates_and_sends_nothing(context):
    account_id = await verified_account(context)
    before = await outbox_events(context)

    result = await accounts.sign_up(context, "CITIZEN@example.com", "another good password")

    assert result == accounts.SignUpResult(account_id=account_id, created=False)
    assert await outbox_events(context) == before
    async with context.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Account)) == 1
    # The password did not change.
    assert (
        await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)
    ).account.id == (account_id)


async def pending_sign_up_outcomes(context: Context, account_id: str, wrong: str) -> list:
    """What the pages would show of a sign-up waiting for its email code: the outcome
    of each of ``CODE_MAX_ATTEMPTS + 1`` wrong codes, then of ``CODES_PER_HOUR`` new
    codes asked for (the error's class, or ``"ok"``)."""
    attempts = [lambda: accounts.verify_email(context, account_id, wrong)] * (
        accounts.CODE_MAX_ATTEMPTS + 1
    )
    attempts += [lambda: accounts.resend_email_code(context, account_id)] * (
        accounts.CODES_PER_HOUR
    )
    outcomes = []
    for attempt in attempts:
        try:
            await attempt()
        except accounts.AccountError as exc:
            outcomes.append(type(exc))
        else:
            outcomes.append("ok")
    return outcomes


async def test_a_sign_up_with_a_verified_email_is_counted_like_a_new_one_but_sends_nothing(
    context,
):
    owner_id = await verified_account(context)
    sent_before = await codes_sent(context)

    taken = await accounts.sign_up(context, "citizen@example.com", "another good password")
    taken_outcomes = await pending_sign_up_outcomes(context, taken.account_id, "000000")
    new = await accounts.sign_up(context, "new@example.com", PASSWORD)
    new_outcomes = await pending_sign_up_outcomes(
        context, new.account_id, another_code(await last_code(context))
    )

    assert taken_outcomes == new_outcomes
    assert new_outcomes == [accounts.CodeRejected] * (accounts.CODE_MAX_ATTEMPTS - 1) + [
        accounts.CodeExpired
    ] * 2 + ["ok"] * (accounts.CODES_PER_HOUR - 1) + [accounts.TooManyCodes]
    # Nothing ever went to the owner, whose account is as it was.
    assert [c.destination for c in await codes_sent(context)] == [
        c.destination for c in sent_before
    ] + ["new@example.com"] * accounts.CODES_PER_HOUR
    owner = await get_account(context, owner_id)
    assert owner.email_verified_at is not None and owner.failed_attempts == 0
    assert (await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)).account.id


async def test_signing_up_again_and_again_uses_up_the_codes_whether_or_not_the_email_is_taken(
    context,
):
    await verified_account(context)

    for email in ("citizen@example.com", "new@example.com"):
        for _ in range(accounts.CODES_PER_HOUR):
            result = await accounts.sign_up(context, email, "another good password")
        with pytest.raises(accounts.TooManyCodes):
            await accounts.resend_email_code(context, result.account_id)


async def test_a_verified_email_is_never_verified_again_by_a_sign_up_code(context):
    # A code of the owner's, still open when the email was verified by other means.
    result = await accounts.sign_up(context, "citizen@example.com", PASSWORD)
    code = await last_code(context)
    await accounts.create_sandbox_citizen(context.db, context.box, "citizen@example.com", PASSWORD)

    with pytest.raises(accounts.CodeRejected):
        await accounts.verify_email(context, result.account_id, code)


async def test_signing_up_again_before_verifying_replaces_the_password_and_the_code(context):
    first = await accounts.sign_up(context, "citizen@example.com", "first password here")
    first_code = await last_code(context)

    again = await accounts.sign_up(context, "citizen@example.com", PASSWORD)

    assert again == accounts.SignUpResult(account_id=first.account_id, created=False)
    second_code = await last_code(context)
    assert len(await codes_sent(context)) == 2
    if first_code != second_code:
        with pytest.raises(accounts.CodeRejected):
            await accounts.verify_email(context, first.account_id, first_code)
    await accounts.verify_email(context, first.account_id, second_code)
    await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)
    with pytest.raises(accounts.SignInFailed):
        await accounts.sign_in_password(context, "citizen@example.com", "first password here")


# -- email verification ----------------------------------------------------------


async def test_a_wrong_email_code_is_counted_and_the_right_one_verifies(context):
    result = await accounts.sign_up(context, "citizen@example.com", PASSWORD)
    code = await last_code(context)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    with pytest.raises(accounts.CodeRejected):
        await accounts.verify_email(context, result.account_id, wrong)
    async with context.db.read() as session:
        assert (await session.scalar(select(OneTimeCode))).attempts == 1

    account = await accounts.verify_email(context, result.account_id, f" {code[:3]} {code[3:]} ")

    assert account.email_verified
    with pytest.raises(accounts.CodeExpired):  # single use
        await accounts.verify_email(context, result.account_id, code)


async def test_an_email_code_is_dead_after_five_wrong_tries_and_a_new_one_works(context):
    result = await accounts.sign_up(context, "citizen@example.com", PASSWORD)
    code = await last_code(context)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    for _ in range(accounts.CODE_MAX_ATTEMPTS - 1):
        with pytest.raises(accounts.CodeRejected):
            await accounts.verify_email(context, result.account_id, wrong)
    with pytest.raises(accounts.CodeExpired):
        await accounts.verify_email(context, result.account_id, wrong)
    with pytest.raises(accounts.CodeExpired):
        await accounts.verify_email(context, result.account_id, code)

    await accounts.resend_email_code(context, result.account_id)
    assert (
        await accounts.verify_email(context, result.account_id, await last_code(context))
    ).email_verified


async def test_an_expired_email_code_is_refused(context):
    result = await accounts.sign_up(context, "citizen@example.com", PASSWORD)
    async with context.db.write() as session:
        await session.execute(
            update(OneTimeCode).values(expires_at=utcnow() - timedelta(seconds=1))
        )

    with pytest.raises(accounts.CodeExpired):
        await accounts.verify_email(context, result.account_id, await last_code(context))


async def test_codes_are_limited_to_five_an_hour(context):
    result = await accounts.sign_up(context, "citizen@example.com", PASSWORD)
    for _ in range(accounts.CODES_PER_HOUR - 1):
        await accounts.resend_email_code(context, result.account_id)

    with pytest.raises(accounts.TooManyCodes):
        await accounts.resend_email_code(context, result.account_id)
    assert len(await codes_sent(context)) == accounts.CODES_PER_HOUR


# -- sign-in and lockout ------------------------------------------------------------


async def test_signing_in_before_verifying_the_email_sends_a_new_code(context):
    result = await accounts.sign_up(context, "citizen@example.com", PASSWORD)

    with pytest.raises(accounts.EmailNotVerified) as caught:
        await accounts.sign_in_password(context, "Citizen@Example.com", PASSWORD)

    assert caught.value.account_id == result.account_id and caught.value.code_sent
    assert len(await codes_sent(context)) == 2


async def test_sign_in_with_a_password_only_account(context):
    account_id = await verified_account(context)

    result = await accounts.sign_in_password(context, "CITIZEN@example.com", PASSWORD)

    assert result.account.id == account_id
    assert not result.needs_second_factor
    with pytest.raises(accounts.SignInFailed):
        await accounts.sign_in_password(context, "citizen@example.com", PASSWORD + "!")


async def test_lockout_after_n_failures_refuses_even_the_right_password_until_it_expires(context):
    account_id = await verified_account(context)

    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(accounts.SignInFailed):
            await accounts.sign_in_password(context, "citizen@example.com", "wrong password!")
    with pytest.raises(accounts.AccountLocked) as caught:
        await accounts.sign_in_password(context, "citizen@example.com", "wrong password!")
    assert caught.value.minutes_left() == 1

    with pytest.raises(accounts.AccountLocked):
        await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)
    locked = await get_account(context, account_id)
    assert locked.locked_until > utcnow()

    await asyncio.sleep((locked.locked_until - utcnow()).total_seconds() + 0.1)
    assert (
        await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)
    ).account.id == (account_id)
    assert (await get_account(context, account_id)).failed_attempts == 0


async def test_a_password_over_the_maximum_length_is_wrong_and_never_cut_to_size(context):
    longest = ("correct horse battery staple " * 9)[: accounts.PASSWORD_MAX_LENGTH]
    account_id = await verified_account(context, password=longest)

    outcomes = []
    for suffix in ("!", " and more", "x" * 10_000):
        try:
            await accounts.sign_in_password(context, "citizen@example.com", longest + suffix)
        except accounts.AccountError as exc:
            outcomes.append(type(exc))

    # Counted like any wrong password: the third one locks the account.
    assert outcomes == [accounts.SignInFailed, accounts.SignInFailed, accounts.AccountLocked]
    await asyncio.sleep(LOCKOUT_SECONDS + 0.1)
    assert (
        await accounts.sign_in_password(context, "citizen@example.com", longest)
    ).account.id == (account_id)


async def test_an_over_long_password_for_an_unknown_email_fails_and_locks_the_same_way(context):
    too_long = "x" * (accounts.PASSWORD_MAX_LENGTH + 1)

    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(accounts.SignInFailed):
            await accounts.sign_in_password(context, "nobody@example.com", too_long)
    with pytest.raises(accounts.AccountLocked):
        await accounts.sign_in_password(context, "nobody@example.com", too_long)


async def test_sign_up_refuses_an_over_long_password_saying_how_long_it_may_be(context):
    with pytest.raises(accounts.InvalidInput) as caught:
        await accounts.sign_up(
            context, "citizen@example.com", "y" * (accounts.PASSWORD_MAX_LENGTH + 1)
        )

    assert caught.value.errors == {"password": "Your password must be 256 characters or fewer"}
    assert await outbox_events(context) == []


async def test_unknown_emails_fail_like_wrong_passwords_and_lock_the_same_way(context):
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(accounts.SignInFailed):
            await accounts.sign_in_password(context, "nobody@example.com", PASSWORD)

    with pytest.raises(accounts.AccountLocked):
        await accounts.sign_in_password(context, "nobody@example.com", PASSWORD)
    with pytest.raises(accounts.AccountLocked):
        await accounts.sign_in_password(context, "Nobody@example.com", PASSWORD)
    with pytest.raises(accounts.SignInFailed):
        await accounts.sign_in_password(context, "not an email", PASSWORD)


# -- second factor --------------------------------------------------------------


async def test_totp_setup_confirm_and_verify(context):
    account_id = await verified_account(context)
    setup = await accounts.start_totp_setup(context, account_id)
    assert await accounts.start_totp_setup(context, account_id) == setup  # reload: same secret
    assert setup.uri.startswith("otpauth://totp/") and f"secret={setup.secret}" in setup.uri
    totp = pyotp.TOTP(setup.secret)

    with pytest.raises(accounts.CodeRejected):
        await accounts.confirm_totp(context, account_id, wrong_totp(setup.secret))
    assert (await get_account(context, account_id)).mfa_method is None

    info = await accounts.confirm_totp(context, account_id, totp.now())
    assert info.second_factor == "totp"

    stored = (await get_account(context, account_id)).totp_secret_encrypted
    assert setup.secret not in stored
    assert context.box.decrypt(stored) == setup.secret
    with pytest.raises(accounts.AlreadyEnrolled):
        await accounts.start_totp_setup(context, account_id)

    result = await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)
    assert result.needs_second_factor
    code = next_totp(setup.secret)
    assert (await accounts.verify_second_factor(context, account_id, code)).id == account_id


async def test_wrong_second_factor_codes_share_the_lockout_counter(context):
    account_id, secret = await with_totp(context)
    wrong = wrong_totp(secret)

    with pytest.raises(accounts.SignInFailed):
        await accounts.sign_in_password(context, "citizen@example.com", "wrong password!")
    # A right password does not reset the counter of an account with a second factor.
    await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)
    with pytest.raises(accounts.CodeRejected):
        await accounts.verify_second_factor(context, account_id, wrong)
    with pytest.raises(accounts.AccountLocked):
        await accounts.verify_second_factor(context, account_id, wrong)
    with pytest.raises(accounts.AccountLocked):
        await accounts.verify_second_factor(context, account_id, pyotp.TOTP(secret).now())
    with pytest.raises(accounts.AccountLocked):
        await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)

    await asyncio.sleep(LOCKOUT_SECONDS + 0.1)
    await accounts.verify_second_factor(context, account_id, next_totp(secret))
    assert (await get_account(context, account_id)).failed_attempts == 0


async def test_a_totp_code_is_accepted_once_then_refused_and_counted_as_a_wrong_guess(context):
    account_id, secret = await with_totp(context)
    totp = pyotp.TOTP(secret)
    step = totp.timecode(utcnow()) + 1
    code = totp.generate_otp(step)

    assert await second_factor_outcomes(context, account_id, code, code) == [
        "accepted",
        accounts.CodeRejected,
    ]
    account = await get_account(context, account_id)
    assert account.totp_last_step == step and account.failed_attempts == 1


async def test_the_code_that_confirmed_the_app_and_older_ones_cannot_sign_in(context):
    account_id = await verified_account(context)
    setup = await accounts.start_totp_setup(context, account_id)
    totp = pyotp.TOTP(setup.secret)
    step = totp.timecode(utcnow())
    await accounts.confirm_totp(context, account_id, totp.generate_otp(step))
    assert (await get_account(context, account_id)).totp_last_step == step

    outcomes = await second_factor_outcomes(
        context, account_id, *(totp.generate_otp(s) for s in (step, step - 1, step + 1))
    )

    assert outcomes == [accounts.CodeRejected, accounts.CodeRejected, "accepted"]


async def test_two_sign_ins_racing_with_the_same_totp_code_let_only_one_through(context):
    account_id, secret = await with_totp(context)
    code = next_totp(secret)

    outcomes = await asyncio.gather(
        *(accounts.verify_second_factor(context, account_id, code) for _ in range(3)),
        return_exceptions=True,
    )

    assert sorted(type(o).__name__ for o in outcomes) == [
        "AccountInfo",
        "CodeRejected",
        "CodeRejected",
    ]


async def test_second_factor_checks_need_an_enrolled_account(context):
    account_id = await verified_account(context)

    with pytest.raises(accounts.SecondFactorRequired):
        await accounts.verify_second_factor(context, account_id, "123456")
    with pytest.raises(accounts.CodeExpired):  # confirm before setup
        await accounts.confirm_totp(context, account_id, "123456")


# -- text message second factor ----------------------------------------------------

MOBILE = "07912 345678"
MOBILE_E164 = "+447912345678"


async def with_sms(context: Context, email: str = "citizen@example.com") -> str:
    account_id = await verified_account(context, email)
    await accounts.start_sms_setup(context, account_id, MOBILE)
    await accounts.confirm_sms(context, account_id, MOBILE, await last_code(context))
    return account_id


def another_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def second_factor_outcomes(context: Context, account_id: str, *codes: str) -> list:
    """What ``verify_second_factor`` did with each code in turn: the error's class,
    or ``"accepted"``."""
    outcomes = []
    for code in codes:
        try:
            await accounts.verify_second_factor(context, account_id, code)
        except accounts.AccountError as exc:
            outcomes.append(type(exc))
        else:
            outcomes.append("accepted")
    return outcomes


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("07912 345678", "+447912345678"),
        ("07912-345-678", "+447912345678"),
        ("+44 (0)7912 345678", "+447912345678"),
        ("0044 7912 345678", "+447912345678"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+1 650 253 0000", "+16502530000"),
    ],
)
def test_phone_numbers_are_read_as_uk_numbers_unless_they_have_a_country_code(typed, e164):
    assert accounts.normalise_phone_number(typed) == e164


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter a mobile phone number"),
        ("12345", "Enter a UK mobile phone number, like 07911 123456, or an international"),
        ("not a number", "Enter a UK mobile phone number"),
        ("07912 3456789", "Enter a UK mobile phone number"),
        ("+999 1234 5678", "Enter a UK mobile phone number"),
        ("0" * 41, "Enter a UK mobile phone number"),
        ("020 7946 0000", "Enter a mobile phone number: we cannot text a landline"),
        ("+33 1 23 45 67 89", "Enter a mobile phone number: we cannot text a landline"),
    ],
)
async def test_invalid_phone_numbers_are_refused_with_a_clear_message_and_nothing_is_sent(
    context, typed, message
):
    account_id = await verified_account(context)
    before = await outbox_events(context)

    with pytest.raises(accounts.InvalidInput) as caught:
        await accounts.start_sms_setup(context, account_id, typed)

    assert list(caught.value.errors) == ["phone_number"]
    assert caught.value.errors["phone_number"].startswith(message)
    assert await outbox_events(context) == before


async def test_sms_setup_texts_a_hashed_code_to_the_e164_number_and_the_code_turns_sms_on(
    context,
):
    account_id = await verified_account(context)

    sent = await accounts.start_sms_setup(context, account_id, MOBILE)

    assert sent.phone_number == MOBILE_E164
    code = (await codes_sent(context))[-1]
    assert code.account_id == account_id
    assert code.channel == events_pb2.VERIFICATION_CHANNEL_SMS
    assert code.purpose == events_pb2.VERIFICATION_PURPOSE_SIGN_IN
    assert code.destination == MOBILE_E164
    assert len(code.code) == 6 and code.code.isdigit()
    assert code.expire_time.ToDatetime().replace(tzinfo=utcnow().tzinfo) == sent.expires_at
    assert (await outbox_events(context))[-1][1] == account_id  # ce-subject
    async with context.db.read() as session:
        stored = await session.scalar(select(OneTimeCode).where(OneTimeCode.purpose == "sms_setup"))
    assert code.code not in stored.code_hash and stored.code_hash != sha256_hex(code.code)
    # Nothing changes until the code comes back.
    account = await get_account(context, account_id)
    assert account.mfa_method is None and account.phone_number is None

    with pytest.raises(accounts.CodeRejected):
        await accounts.confirm_sms(context, account_id, MOBILE, another_code(code.code))
    info = await accounts.confirm_sms(context, account_id, "+44 7912 345678", code.code)

    assert info.second_factor == "sms" and info.phone_number == MOBILE_E164
    account = await get_account(context, account_id)
    assert account.mfa_method == "sms" and account.phone_number == MOBILE_E164
    with pytest.raises(accounts.AlreadyEnrolled):
        await accounts.start_sms_setup(context, account_id, MOBILE)
    with pytest.raises(accounts.AlreadyEnrolled):
        await accounts.start_totp_setup(context, account_id)


async def test_a_setup_code_confirms_only_the_number_it_was_texted_to(context):
    account_id = await verified_account(context)
    await accounts.start_sms_setup(context, account_id, MOBILE)
    code = await last_code(context)

    with pytest.raises(accounts.CodeRejected):
        await accounts.confirm_sms(context, account_id, "07912 000000", code)
    assert (await get_account(context, account_id)).phone_number is None

    assert (await accounts.confirm_sms(context, account_id, MOBILE, code)).second_factor == "sms"


async def test_sign_in_with_sms_texts_a_code_that_completes_the_sign_in_once(context):
    account_id = await with_sms(context)

    result = await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)

    assert result.needs_second_factor and result.code_sent
    sent = (await codes_sent(context))[-1]
    assert sent.channel == events_pb2.VERIFICATION_CHANNEL_SMS
    assert sent.purpose == events_pb2.VERIFICATION_PURPOSE_SIGN_IN
    assert sent.destination == MOBILE_E164
    info = await accounts.verify_second_factor(context, account_id, sent.code)
    assert info.id == account_id and info.second_factor == "sms"
    cookie = await accounts.create_session(context, account_id, "Cl.Cm")
    assert (await accounts.current_session(context, cookie)).level == "Cl.Cm"
    with pytest.raises(accounts.CodeExpired):  # single use
        await accounts.verify_second_factor(context, account_id, sent.code)


async def test_a_new_sign_in_code_replaces_the_last_one(context):
    account_id = await with_sms(context)
    await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)
    first = await last_code(context)

    sent = await accounts.send_sign_in_code(context, account_id)

    assert sent.phone_number == MOBILE_E164
    second = await last_code(context)
    if first != second:
        with pytest.raises(accounts.CodeRejected):
            await accounts.verify_second_factor(context, account_id, first)
    await accounts.verify_second_factor(context, account_id, second)


async def test_wrong_texted_codes_share_the_lockout_counter_and_no_code_is_sent_while_locked(
    context,
):
    account_id = await with_sms(context)
    with pytest.raises(accounts.SignInFailed):
        await accounts.sign_in_password(context, "citizen@example.com", "wrong password!")
    await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)
    code = await last_code(context)

    wrong = another_code(code)
    assert await second_factor_outcomes(context, account_id, wrong, wrong, code) == [
        accounts.CodeRejected,
        accounts.AccountLocked,
        accounts.AccountLocked,
    ]
    sent_before = len(await codes_sent(context))
    with pytest.raises(accounts.AccountLocked):
        await accounts.send_sign_in_code(context, account_id)
    assert len(await codes_sent(context)) == sent_before

    await asyncio.sleep(LOCKOUT_SECONDS + 0.1)
    await accounts.verify_second_factor(context, account_id, code)
    assert (await get_account(context, account_id)).failed_attempts == 0


async def test_a_texted_code_dies_after_five_wrong_tries_and_an_expired_one_is_refused(context):
    context.settings = context.settings.model_copy(update={"max_failed_sign_ins": 100})
    account_id = await with_sms(context)
    await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)
    code = await last_code(context)

    wrong = [another_code(code)] * accounts.CODE_MAX_ATTEMPTS
    outcomes = await second_factor_outcomes(context, account_id, "12", *wrong, code)

    # "12" is not 6 digits: refused, not counted. The fifth wrong code kills the code.
    assert outcomes == [accounts.CodeRejected] * accounts.CODE_MAX_ATTEMPTS + [
        accounts.CodeExpired,
        accounts.CodeExpired,
    ]
    assert (await get_account(context, account_id)).failed_attempts == accounts.CODE_MAX_ATTEMPTS

    await accounts.send_sign_in_code(context, account_id)
    async with context.db.write() as session:
        await session.execute(
            update(OneTimeCode).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(accounts.CodeExpired):
        await accounts.verify_second_factor(context, account_id, await last_code(context))


async def test_sign_in_codes_are_limited_to_five_an_hour(context):
    account_id = await with_sms(context)
    assert (await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)).code_sent
    for _ in range(accounts.CODES_PER_HOUR - 1):
        await accounts.send_sign_in_code(context, account_id)

    with pytest.raises(accounts.TooManyCodes):
        await accounts.send_sign_in_code(context, account_id)
    again = await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)
    assert again.needs_second_factor and not again.code_sent
    sign_in_codes = [c for c in await codes_sent(context) if c.destination == MOBILE_E164]
    assert len(sign_in_codes) == 1 + accounts.CODES_PER_HOUR  # the setup code, then five


async def test_sms_codes_cannot_be_asked_for_an_account_without_sms(context):
    account_id, _ = await with_totp(context)

    with pytest.raises(accounts.SecondFactorRequired):
        await accounts.send_sign_in_code(context, account_id)
    assert not (await accounts.sign_in_password(context, "citizen@example.com", PASSWORD)).code_sent


# -- sessions ---------------------------------------------------------------------


async def test_sessions_are_stored_hashed_and_expire(context):
    account_id = await verified_account(context)

    cookie = await accounts.create_session(context, account_id, "Cl")

    current = await accounts.current_session(context, cookie)
    assert current.account.id == account_id and current.level == "Cl"
    assert current.expires_at - current.auth_time == timedelta(
        seconds=context.settings.session_seconds
    )
    async with context.db.read() as session:
        stored = (await session.scalars(select(BrowserSession))).one()
        assert stored.id_hash == sha256_hex(cookie)
        assert (await accounts.session_for_cookie(session, cookie)).account_id == account_id

    async with context.db.write() as session:
        await session.execute(
            update(BrowserSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await accounts.current_session(context, cookie) is None
    assert await accounts.current_session(context, None) is None
    assert await accounts.current_session(context, "unknown") is None


async def test_a_session_reaches_cl_cm_only_with_a_second_factor(context):
    account_id = await verified_account(context)
    cookie = await accounts.create_session(context, account_id, "Cl")

    with pytest.raises(accounts.SecondFactorRequired):
        await accounts.create_session(context, account_id, "Cl.Cm")
    with pytest.raises(accounts.SecondFactorRequired):
        await accounts.upgrade_session(context, cookie)
    with pytest.raises(ValueError):
        await accounts.create_session(context, account_id, "P2")

    setup = await accounts.start_totp_setup(context, account_id)
    await accounts.confirm_totp(context, account_id, pyotp.TOTP(setup.secret).now())
    upgraded = await accounts.upgrade_session(context, cookie)

    assert upgraded != cookie
    assert await accounts.current_session(context, cookie) is None
    assert (await accounts.current_session(context, upgraded)).level == "Cl.Cm"
    with pytest.raises(accounts.SessionNotFound):
        await accounts.upgrade_session(context, cookie)


async def test_end_session_and_end_all_sessions(context):
    account_id = await verified_account(context)
    other_id = await verified_account(context, "other@example.com")
    first, second, third = [
        await accounts.create_session(context, account_id, "Cl") for _ in range(3)
    ]
    others = await accounts.create_session(context, other_id, "Cl")

    assert await accounts.end_session(context, first)
    assert not await accounts.end_session(context, first)
    assert await accounts.current_session(context, first) is None
    assert await accounts.current_session(context, second) is not None

    assert await accounts.end_all_sessions(context, account_id) == 2
    assert await accounts.current_session(context, second) is None
    assert await accounts.current_session(context, third) is None
    assert await accounts.current_session(context, others) is not None


# -- sandbox and identity -------------------------------------------------------------


async def test_create_sandbox_citizen_is_idempotent(context):
    secret = await accounts.create_sandbox_citizen(
        context.db, context.box, "Sandbox.Citizen@example.com", PASSWORD
    )

    assert (
        await accounts.create_sandbox_citizen(
            context.db, context.box, "sandbox.citizen@example.com", "a different password"
        )
        == secret
    )
    async with context.db.read() as session:
        (account,) = (await session.scalars(select(Account))).all()
    assert account.email == "sandbox.citizen@example.com"
    assert account.email_verified_at is not None
    assert account.password_hash.startswith("$argon2id$")
    assert secret not in account.totp_secret_encrypted
    assert [e[0] for e in await outbox_events(context)] == ["govplat.identity.v1.AccountCreated"]

    result = await accounts.sign_in_password(context, "sandbox.citizen@example.com", PASSWORD)
    assert result.needs_second_factor
    await accounts.verify_second_factor(context, account.id, pyotp.TOTP(secret).now())


async def test_identity_check_gives_p2_with_a_sandbox_identity(context):
    account_id = await verified_account(context)
    with pytest.raises(accounts.SecondFactorRequired):
        await accounts.complete_identity_check(context, account_id, "kenneth")
    account_id, _ = await with_totp(context, "p2@example.com")

    with pytest.raises(accounts.InvalidInput):
        await accounts.complete_identity_check(context, account_id, "nobody")
    info = await accounts.complete_identity_check(context, account_id, "kenneth")

    assert info.identity_level == "P2"
    claims = json.loads((await get_account(context, account_id)).identity_claims)
    assert claims["birthDate"] == [{"value": "1965-07-08"}]
    assert claims["name"][0]["nameParts"][1] == {"type": "FamilyName", "value": "Decerqueira"}
    assert claims["address"][0]["addressCountry"] == "GB"


def test_every_sandbox_identity_has_a_name_a_birth_date_and_a_gb_address():
    assert len(accounts.SANDBOX_IDENTITIES) >= 2
    for identity in accounts.SANDBOX_IDENTITIES.values():
        claims = identity["claims"]
        parts = {p["type"] for p in claims["name"][0]["nameParts"]}
        assert parts == {"GivenName", "FamilyName"}
        assert len(claims["birthDate"][0]["value"]) == 10
        assert claims["address"][0]["addressCountry"] == "GB"
        assert claims["address"][0]["postalCode"]


async def test_authorization_needs_reads_the_request_until_it_expires(context):
    now = utcnow()
    fields = dict(
        client_id="client",
        redirect_uri="https://rp.example/callback",
        scope="openid",
        state="s",
        nonce="n",
        code_challenge="c" * 43,
        created_at=now,
    )
    async with context.db.write() as session:
        session.add(
            AuthorizationRequest(
                id="live",
                credential_level="Cl.Cm",
                identity_level="P2",
                expires_at=now + timedelta(minutes=5),
                **fields,
            )
        )
        session.add(
            AuthorizationRequest(
                id="old",
                credential_level="Cl",
                identity_level=None,
                expires_at=now - timedelta(seconds=1),
                **fields,
            )
        )

    assert await accounts.authorization_needs(context, "live") == accounts.RequestNeeds(
        credential_level="Cl.Cm", identity_level="P2"
    )
    assert await accounts.authorization_needs(context, "old") is None
    assert await accounts.authorization_needs(context, "missing") is None
