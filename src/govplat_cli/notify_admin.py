"""A client of notify's admin REST API (``/admin/notify``), for the CLI and for seeding
the sandbox's templates."""

from __future__ import annotations

import uuid

import httpx

from govplat_cli.identity_admin import AdminError

#: The sandbox's templates (fixed ids per service, so that seeding twice changes nothing).
SANDBOX_TEMPLATES = {
    "notify_email_template_id": {
        "type": "email",
        "name": "Sandbox email",
        "subject": "Hello ((name))",
        "body": (
            "# A message from the govplat sandbox\n\nHello ((name)),\n\n"
            "This email was sent with your sandbox credentials.\n\n"
            "((show_reference??Your reference is in the subject line.))"
        ),
    },
    "notify_sms_template_id": {
        "type": "sms",
        "name": "Sandbox text message",
        "body": "Hello ((name)), this text message was sent from the govplat sandbox.",
    },
    "notify_letter_template_id": {
        "type": "letter",
        "name": "Sandbox letter",
        "subject": "A letter from the govplat sandbox",
        "body": "Dear ((name)),\n\nThis letter was sent with your sandbox credentials.",
    },
    "notify_receipt_template_id": {
        "type": "email",
        "name": "Payment receipt",
        "subject": "Your payment of ((amount))",
        "body": (
            "# Payment received\n\nThank you for your payment of ((amount)) for "
            "((description)).\n\n* Payment reference: ((reference))\n* Date: ((date))"
        ),
    },
}
SEED_NAMESPACE = uuid.UUID("b7e0d0a5-8a62-4b9f-9a8f-2f5d6c3b1e77")


class NotifyAdmin:
    """Notify's admin API with the operator credential; errors become :class:`AdminError`.

    Args:
        base_url: where ``/admin/notify`` is served (the gateway, or notify itself).
        token: the operator token.
    """

    def __init__(self, base_url: str, token: str, timeout: float = 15.0) -> None:
        self.client = httpx.Client(
            base_url=base_url.rstrip("/") + "/admin/notify",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def __enter__(self) -> NotifyAdmin:
        return self

    def __exit__(self, *exc) -> None:
        self.client.close()

    def call(self, method: str, path: str, body: dict | None = None, ok=(200, 201)) -> dict:
        """One admin request; returns the JSON answer.

        Raises:
            AdminError: notify refused it (with its message) or could not be reached.
        """
        try:
            response = self.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise AdminError(f"notify is not reachable: {type(exc).__name__}") from None
        if response.status_code not in ok:
            try:
                answer = response.json()
                message = answer.get("message") or answer.get("error") or response.text
            except ValueError:
                message = response.text[:200]
            raise AdminError(f"notify refused ({response.status_code}): {message}")
        return response.json()


def seed_notify(admin: NotifyAdmin, service_id: str, service_name: str) -> dict:
    """The sandbox service's Notify settings and templates (created once; the receipt
    template is what a payment in the sandbox sends). Returns the template ids."""
    admin.call(
        "PUT",
        f"/services/{service_id}",
        {"name": service_name, "email_from": "sandbox", "sms_sender": "govplat"},
    )
    existing = {
        t["id"] for t in admin.call("GET", f"/services/{service_id}/templates")["templates"]
    }
    ids = {}
    for key, template in SANDBOX_TEMPLATES.items():
        template_id = str(uuid.uuid5(SEED_NAMESPACE, f"{service_id}:{key}"))
        if template_id not in existing:
            admin.call("POST", f"/services/{service_id}/templates", {"id": template_id, **template})
        ids[key] = template_id
    admin.call(
        "PUT",
        f"/services/{service_id}",
        {"receipt_template_id": ids["notify_receipt_template_id"]},
    )
    return ids
