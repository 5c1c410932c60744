"""A client of identity's gRPC admin API, for the CLI and for seeding the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import grpc

from govplat.identity.v1 import identity_service_pb2 as pb
from govplat.identity.v1 import identity_service_pb2_grpc

API = {"notify": pb.API_NOTIFY, "payments": pb.API_PAYMENTS}
KEY_TYPE = {"live": pb.KEY_TYPE_LIVE, "test": pb.KEY_TYPE_TEST, "team": pb.KEY_TYPE_TEAM}
KEY_TYPE_NAME = {value: name for name, value in KEY_TYPE.items()}
API_NAME = {value: name for name, value in API.items()}


class AdminError(RuntimeError):
    """A refused or failed admin call, with a message fit for the terminal."""


def admin_token(data_dir: Path, explicit: str | None = None) -> str:
    """The operator token: given, else ``DATA_DIR/secrets.json`` written by ``govplat up``.

    Raises:
        AdminError: when neither is there.
    """
    if explicit:
        return explicit
    try:
        return json.loads((data_dir / "secrets.json").read_text())["identity_admin_token"]
    except (OSError, ValueError, KeyError):
        raise AdminError(
            f"no admin token: set GOVPLAT_ADMIN_TOKEN, or run `govplat up` with the data folder {data_dir}"
        ) from None


class IdentityAdmin:
    """Identity's admin RPCs with the operator credential; errors become :class:`AdminError`.

    Args:
        address: identity's gRPC ``host:port``.
        token: the operator token.
        timeout: seconds per call.
    """

    def __init__(self, address: str, token: str, timeout: float = 10.0) -> None:
        self.address = address
        self.channel = grpc.insecure_channel(address)
        self.stub = identity_service_pb2_grpc.IdentityServiceStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.timeout = timeout

    def __enter__(self) -> IdentityAdmin:
        return self

    def __exit__(self, *exc) -> None:
        self.channel.close()

    def call(self, rpc: str, request):
        """Call ``rpc`` with the operator credential."""
        try:
            return getattr(self.stub, rpc)(request, metadata=self.metadata, timeout=self.timeout)
        except grpc.RpcError as error:
            code = error.code()
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise AdminError(
                    f"identity is not reachable at {self.address}: is govplat running?"
                ) from None
            if code == grpc.StatusCode.UNAUTHENTICATED:
                raise AdminError(f"refused: {error.details()}") from None
            raise AdminError(f"{code.name.lower().replace('_', ' ')}: {error.details()}") from None

    def verify(self, rpc: str, request) -> bool:
        """Whether a verification RPC accepts the credential (no operator token needed)."""
        try:
            getattr(self.stub, rpc)(request, timeout=self.timeout)
            return True
        except grpc.RpcError:
            return False

    def organisation_named(self, name: str) -> pb.Organisation | None:
        """The organisation called ``name``, looking through every page."""
        token = ""
        while True:
            page = self.call(
                "ListOrganisations", pb.ListOrganisationsRequest(page_size=500, page_token=token)
            )
            for organisation in page.organisations:
                if organisation.name == name:
                    return organisation
            token = page.next_page_token
            if not token:
                return None

    def service_named(self, organisation_id: str, name: str) -> pb.Service | None:
        """The organisation's service called ``name``."""
        token = ""
        while True:
            page = self.call(
                "ListServices",
                pb.ListServicesRequest(
                    organisation_id=organisation_id, page_size=500, page_token=token
                ),
            )
            for service in page.services:
                if service.name == name:
                    return service
            token = page.next_page_token
            if not token:
                return None

    def new_service(
        self, organisation: str, service: str, keys: dict[str, tuple[str, str]]
    ) -> tuple[str, dict[str, str]]:
        """A new organisation called ``organisation`` with one service called ``service``
        and its API keys: ``keys`` maps a name of the caller's to ``(api, key_type)``
        (``"notify"`` or ``"payments"``; ``"live"``, ``"test"`` or ``"team"``).

        Returns:
            ``(service_id, {name: the key, shown this once})``.

        Raises:
            AdminError: when identity refuses a call (a duplicate name, a bad token).
            KeyError: for an unknown api or key type.
        """
        created = self.call(
            "CreateOrganisation", pb.CreateOrganisationRequest(name=organisation)
        ).organisation
        service_id = self.call(
            "CreateService", pb.CreateServiceRequest(organisation_id=created.id, name=service)
        ).service.id
        made = {
            name: self.call(
                "CreateApiKey",
                pb.CreateApiKeyRequest(
                    service_id=service_id,
                    name=f"{service} {name}",
                    api=API[api],
                    key_type=KEY_TYPE[key_type],
                ),
            ).key
            for name, (api, key_type) in keys.items()
        }
        return service_id, made
