"""The acquirer adapter (who authorises, captures and refunds card payments), and the
sandbox card gateway behind it.

:class:`Acquirer` is the adapter a real acquirer would implement. :class:`SandboxAcquirer`
answers with GOV.UK Pay's sandbox test cards (``SandboxCardNumbers``):

- authorised: 4242424242424242, 4444333322221111, 4000056655665556 (Visa debit),
  5105105105105100 (Mastercard debit), 371449635398431 (American Express),
  222100000000000 (Mastercard credit, 15 digits) and Pay's other good sandbox numbers;
- declined (failed, ``P0010``): 4000000000000002;
- expired card (failed, ``P0010``): 4000000000000069;
- CVC error (failed, ``P0010``): 4000000000000127;
- processing error (error, ``P0050``): 4000000000000119;
- any other number: an error ("Unsupported card details", ``P0050``).

Captures, cancellations and refunds always succeed. A recurring payment on an
agreement set up with 5105105105105100 is declined, as in Pay's sandbox. The card
number never leaves :meth:`authorise`: the adapter is told it and forgets it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

AUTHORISED = "authorised"
DECLINED = "declined"
ERROR = "error"

#: Pay's sandbox numbers: number → (outcome, card type or None, why).
SANDBOX_CARDS: dict[str, tuple[str, str | None, str]] = {
    "4242424242424242": (AUTHORISED, "credit", ""),
    "4444333322221111": (AUTHORISED, "credit", ""),
    "4000056655665556": (AUTHORISED, "debit", ""),
    "5105105105105100": (AUTHORISED, "debit", ""),
    "371449635398431": (AUTHORISED, "credit", ""),
    "3566002020360505": (AUTHORISED, "credit", ""),
    "6011000990139424": (AUTHORISED, "credit", ""),
    "36148900647913": (AUTHORISED, "credit", ""),
    "4917610000000000003": (AUTHORISED, "debit", ""),
    "222100000000000": (AUTHORISED, "credit", ""),
    "4000000000000010": (AUTHORISED, "credit", ""),
    "4000160000000004": (AUTHORISED, "debit", ""),
    "4000020000000000": (AUTHORISED, "credit", ""),
    "4988080000000000": (AUTHORISED, "credit", ""),
    "4111111111111111": (AUTHORISED, "credit", ""),
    "4293189100000008": (AUTHORISED, "credit", ""),
    "5101180000000007": (AUTHORISED, "credit", ""),
    "4131840000000003": (AUTHORISED, "debit", ""),
    "4000180000000002": (AUTHORISED, "debit", ""),
    "5200828282828210": (AUTHORISED, "debit", ""),
    "4000000000000002": (DECLINED, None, "declined"),
    "4000000000000069": (DECLINED, None, "expired card"),
    "4000000000000127": (DECLINED, None, "CVC error"),
    "4000000000000119": (ERROR, None, "This transaction could be not be processed."),
}
#: Sets up an agreement whose later recurring payments are declined.
RECURRING_DECLINED = "5105105105105100"


@dataclass(frozen=True)
class Authorisation:
    """The acquirer's answer: ``outcome`` (``authorised``, ``declined``, ``error``), its
    transaction id (``provider_id``), the card type when known, and a token for later
    payments on the same card (agreements)."""

    outcome: str
    provider_id: str
    card_type: str | None = None
    instrument_token: str | None = None


class Acquirer(Protocol):
    """What an acquirer adapter does (every call is keyed by the payment's id)."""

    name: str

    async def authorise(self, payment_id: str, card_number: str, amount: int) -> Authorisation:
        """Authorise ``amount`` pence on a card."""

    async def authorise_recurring(
        self, payment_id: str, instrument_token: str, amount: int
    ) -> Authorisation:
        """Authorise ``amount`` pence on a card stored for an agreement."""

    async def capture(self, payment_id: str, provider_id: str) -> bool:
        """Capture an authorised payment; whether it was captured."""

    async def cancel(self, payment_id: str, provider_id: str) -> bool:
        """Release an authorisation."""

    async def refund(self, refund_id: str, provider_id: str, amount: int) -> bool:
        """Refund ``amount`` pence of a captured payment."""


class SandboxAcquirer:
    """The sandbox card gateway (see the module docstring)."""

    name = "sandbox"

    async def authorise(self, payment_id: str, card_number: str, amount: int) -> Authorisation:
        outcome, card_type, _why = SANDBOX_CARDS.get(card_number, (ERROR, None, "unsupported"))
        token = None
        if outcome == AUTHORISED:
            # What a real acquirer gives back for recurring payments: never the number.
            token = ("decline-" if card_number == RECURRING_DECLINED else "") + secrets.token_hex(
                12
            )
        return Authorisation(outcome, f"sandbox-{payment_id}", card_type, token)

    async def authorise_recurring(
        self, payment_id: str, instrument_token: str, amount: int
    ) -> Authorisation:
        outcome = DECLINED if instrument_token.startswith("decline-") else AUTHORISED
        return Authorisation(outcome, f"sandbox-{payment_id}")

    async def capture(self, payment_id: str, provider_id: str) -> bool:
        return True

    async def cancel(self, payment_id: str, provider_id: str) -> bool:
        return True

    async def refund(self, refund_id: str, provider_id: str, amount: int) -> bool:
        return True
