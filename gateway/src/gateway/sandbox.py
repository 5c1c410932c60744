"""Fresh sandbox credentials for a developer, made through identity's admin gRPC API.

One set is a new agency (organisation) and service in identity, with a Notify test
key, a Pay test key and an OAuth client (``client_credentials``, ``client_secret_basic``)
with the sandbox's machine scopes (no register writes). The keys and the client secret are returned once;
identity keeps only their protected forms. Identity's admin RPCs need the operator
token (``GOVPLAT_ADMIN_TOKEN``, which ``govplat up`` gives every component).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import grpc

from govplat.identity.v1 import identity_service_pb2 as pb
from govplat.identity.v1 import identity_service_pb2_grpc

#: What a portal-made OAuth client may ask for: the seeded client's machine scopes but
#: ``registers:write:country``. Anyone who reaches the portal may make credentials, and
#: a register is shared and append-only: an entry written with a portal client would
#: stay in every developer's ``country`` register. The seeded client (``sandbox.json``,
#: readable only by whoever runs the platform) keeps the write scope.
SANDBOX_CLIENT_SCOPES = (
    "notify:send",
    "notify:read",
    "payments:read",
    "payments:write",
)


class SandboxUnavailable(Exception):
    """Identity could not create the credentials (unreachable, or it refused)."""


@dataclass(frozen=True)
class CreatedCredentials:
    """A new set of sandbox credentials (the secrets are shown once).

    Attributes:
        agency_id / agency_name / service_id: the new agency and its service.
        notify_api_key: a Notify test key (``{name}-{service_id}-{secret}``).
        pay_api_key: a Pay test key (``api_test_...``).
        oauth_client_id / oauth_client_secret: a ``client_credentials`` client.
        scopes: what the client may ask for.
    """

    agency_id: str
    agency_name: str
    service_id: str
    notify_api_key: str
    pay_api_key: str
    oauth_client_id: str
    oauth_client_secret: str
    scopes: tuple[str, ...] = SANDBOX_CLIENT_SCOPES


class SandboxCredentials:
    """Creates sandbox credentials with identity's admin RPCs.

    Args:
        identity_address: identity's gRPC ``host:port``.
        admin_token: the operator token.
        timeout: seconds per call.
    """

    def __init__(self, identity_address: str, admin_token: str, timeout: float = 10.0) -> None:
        self.identity_address = identity_address
        self.metadata = (("authorization", f"Bearer {admin_token}"),)
        self.timeout = timeout
        # Made on first use: a grpc.aio channel belongs to the event loop it is created in.
        self.channel: grpc.aio.Channel | None = None

    async def close(self) -> None:
        """Close the channel to identity."""
        if self.channel is not None:
            await self.channel.close()

    async def _call(self, rpc: str, request):
        if self.channel is None:
            self.channel = grpc.aio.insecure_channel(self.identity_address)
        stub = identity_service_pb2_grpc.IdentityServiceStub(self.channel)
        try:
            return await getattr(stub, rpc)(request, metadata=self.metadata, timeout=self.timeout)
        except grpc.aio.AioRpcError as error:
            raise SandboxUnavailable(f"{rpc}: {error.code().name}") from None

    async def create(self) -> CreatedCredentials:
        """A new agency, service, Notify and Pay test keys and OAuth client.

        Raises:
            SandboxUnavailable: identity is unreachable or refused a call (a set may then
                be left half made; nothing of it is shown).
        """
        name = f"Sandbox developer {secrets.token_hex(4)}"
        organisation = (
            await self._call("CreateOrganisation", pb.CreateOrganisationRequest(name=name))
        ).organisation
        service = (
            await self._call(
                "CreateService",
                pb.CreateServiceRequest(organisation_id=organisation.id, name="Sandbox service"),
            )
        ).service

        async def key(api: int, key_name: str) -> str:
            request = pb.CreateApiKeyRequest(
                service_id=service.id, name=key_name, api=api, key_type=pb.KEY_TYPE_TEST
            )
            return (await self._call("CreateApiKey", request)).key

        notify_key = await key(pb.API_NOTIFY, "sandbox test")
        pay_key = await key(pb.API_PAYMENTS, "sandbox pay test")
        client = await self._call(
            "CreateOAuthClient",
            pb.CreateOAuthClientRequest(
                organisation_id=organisation.id,
                service_id=service.id,
                name="Sandbox client",
                auth_method="client_secret_basic",
                scopes=list(SANDBOX_CLIENT_SCOPES),
                grant_types=["client_credentials"],
            ),
        )
        return CreatedCredentials(
            agency_id=organisation.id,
            agency_name=organisation.name,
            service_id=service.id,
            notify_api_key=notify_key,
            pay_api_key=pay_key,
            oauth_client_id=client.client.client_id,
            oauth_client_secret=client.client_secret,
        )
