"""Seeding the sandbox: a test citizen who can sign in at once."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from govkit.db import Database, utcnow
from identity.models import Account
from identity.security import SecretBox, hash_password, new_totp_secret
from identity.service.accounts.errors import InvalidInput
from identity.service.accounts.records import add_account_created
from identity.service.accounts.validation import normalise_email, password_problem
from identity.service.accounts.values import SECOND_FACTOR_TOTP

#: ``ce-source`` of identity's events (the same as ``Context.source``).
_SOURCE = "//govplat/identity"


async def create_sandbox_citizen(db: Database, box: SecretBox, email: str, password: str) -> str:
    """A sandbox citizen: verified email, ``password``, an authenticator app enrolled.

    Idempotent: when the email already has an account, nothing is changed (the
    password is not reset) and its TOTP secret is returned; an existing account
    without an app gets one.

    Returns:
        The base32 TOTP secret, to publish with the sandbox credentials.

    Raises:
        InvalidInput: the email is not an email address or the password too weak.
    """
    normalised = normalise_email(email)
    problem = password_problem(password, normalised)
    if problem:
        raise InvalidInput({"password": problem})
    now = utcnow()
    async with db.write() as session:
        account = await session.scalar(
            select(Account).where(Account.email == normalised).with_for_update()
        )
        if account is not None:
            if account.mfa_method == SECOND_FACTOR_TOTP and account.totp_secret_encrypted:
                return box.decrypt(account.totp_secret_encrypted)
            secret = new_totp_secret()
            account.totp_secret_encrypted = box.encrypt(secret)
            account.totp_last_step = None  # steps of an earlier secret
            account.mfa_method = SECOND_FACTOR_TOTP
            account.email_verified_at = account.email_verified_at or now
            return secret
    password_hash = await asyncio.to_thread(hash_password, password)
    secret = new_totp_secret()
    try:
        async with db.write() as session:
            account = Account(
                id=str(uuid.uuid4()),
                email=normalised,
                password_hash=password_hash,
                email_verified_at=now,
                mfa_method=SECOND_FACTOR_TOTP,
                totp_secret_encrypted=box.encrypt(secret),
                failed_attempts=0,
                created_at=now,
            )
            session.add(account)
            await session.flush()
            await add_account_created(session, _SOURCE, account.id, now)
    except IntegrityError:  # created concurrently: return that one's secret
        return await create_sandbox_citizen(db, box, email, password)
    return secret
