"""Authorization requests' needs, and the sandbox identity check (identity level P2)."""

from __future__ import annotations

import json
import logging

from govkit.db import utcnow
from identity.context import Context
from identity.models import AuthorizationRequest
from identity.service.accounts.errors import InvalidInput, SecondFactorRequired
from identity.service.accounts.records import account_for_update
from identity.service.accounts.values import IDENTITY_LEVEL_P2, AccountInfo, RequestNeeds

log = logging.getLogger(__name__)


def _test_identity(
    label: str,
    given_names: list[str],
    family_name: str,
    birth_date: str,
    address: dict[str, str],
    valid_from: str,
) -> dict:
    """One entry of :data:`SANDBOX_IDENTITIES`: a GB address lived at since ``valid_from``."""
    parts = [{"type": "GivenName", "value": name} for name in given_names]
    parts.append({"type": "FamilyName", "value": family_name})
    return {
        "label": label,
        "claims": {
            "name": [{"nameParts": parts}],
            "birthDate": [{"value": birth_date}],
            "address": [{**address, "addressCountry": "GB", "validFrom": valid_from}],
        },
    }


#: The sandbox's test identities for the identity check (P2). Keyed by a short id;
#: each value has a ``label`` to show and the ``claims`` stored in
#: ``Account.identity_claims`` as JSON, in the shape of GOV.UK One Login's core
#: identity ``credentialSubject`` and address claim: ``name`` (``nameParts`` of
#: ``GivenName``/``FamilyName``), ``birthDate`` (ISO 8601 date) and ``address``
#: (PAF-style fields, ``postalCode``, ``addressCountry`` ISO 3166-1 alpha-2 "GB").
#: These people are fictional; ``kenneth`` is One Login's published test identity.
SANDBOX_IDENTITIES: dict[str, dict] = {
    "kenneth": _test_identity(
        "Kenneth Decerqueira, born 8 July 1965, Bath",
        ["Kenneth"],
        "Decerqueira",
        "1965-07-08",
        {
            "buildingNumber": "8",
            "streetName": "Hadley Road",
            "addressLocality": "Bath",
            "postalCode": "BA2 5AA",
        },
        "2000-01-01",
    ),
    "mary": _test_identity(
        "Mary Ann Whitfield, born 21 March 1988, Leeds",
        ["Mary", "Ann"],
        "Whitfield",
        "1988-03-21",
        {
            "subBuildingName": "Flat 3",
            "buildingName": "Aire House",
            "streetName": "Canal Wharf",
            "addressLocality": "Leeds",
            "postalCode": "LS11 5PS",
        },
        "2019-01-01",
    ),
    "owain": _test_identity(
        "Owain Pritchard, born 2 November 1954, Cardiff",
        ["Owain"],
        "Pritchard",
        "1954-11-02",
        {
            "buildingNumber": "42",
            "streetName": "Heol y Castell",
            "addressLocality": "Cardiff",
            "postalCode": "CF10 1BJ",
        },
        "1990-01-01",
    ),
}


async def authorization_needs(context: Context, request_id: str) -> RequestNeeds | None:
    """The levels an ``/authorize`` request needs, or ``None`` when there is no such
    request or it has expired."""
    async with context.db.read() as session:
        found = await session.get(AuthorizationRequest, request_id)
    if found is None or found.expires_at <= utcnow():
        return None
    return RequestNeeds(
        credential_level=found.credential_level, identity_level=found.identity_level
    )


async def complete_identity_check(context: Context, account_id: str, identity: str) -> AccountInfo:
    """Sandbox identity check: give the account identity level ``P2`` and the claims
    of the chosen test identity.

    Args:
        identity: a key of :data:`SANDBOX_IDENTITIES` (``kenneth``, ``mary`` or
            ``owain``); the identity's ``claims`` are stored as JSON in
            ``Account.identity_claims``.

    Raises:
        InvalidInput: ``{"identity": ...}`` for an unknown identity.
        AccountNotFound: no such account.
        SecondFactorRequired: P2 needs ``Cl.Cm``, so an account with a second factor.
    """
    chosen = SANDBOX_IDENTITIES.get(identity or "")
    if chosen is None:
        raise InvalidInput({"identity": "Choose one of the test identities"})
    async with context.db.write() as session:
        account = await account_for_update(session, account_id)
        if account.mfa_method is None:
            raise SecondFactorRequired()
        account.identity_level = IDENTITY_LEVEL_P2
        account.identity_claims = json.dumps(chosen["claims"], sort_keys=True)
        info = AccountInfo.of(account)
    log.info("identity check completed", extra={"account_id": account_id})
    return info
