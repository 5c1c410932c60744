"""The identity gRPC API (``govplat.identity.v1.IdentityService``).

The ``Verify*`` RPCs are the gateway's: they turn a credential into a
``Principal`` or refuse it (``UNAUTHENTICATED``/``PERMISSION_DENIED`` with an
``ErrorInfo`` whose message is the API family's own text). Every other RPC (reads
included: agency and service ids are not public) needs the operator credential
in the ``authorization`` metadata (``Bearer <admin token>``).
"""

from __future__ import annotations

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from govkit.errors import UnauthenticatedError
from govkit.principal import Principal
from govplat.identity.v1 import identity_service_pb2 as pb
from govplat.identity.v1 import identity_service_pb2_grpc
from identity.context import Context
from identity.service import credentials, oidc, signing

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["IdentityService"].full_name
KEY_TYPES = {"live": pb.KEY_TYPE_LIVE, "test": pb.KEY_TYPE_TEST, "team": pb.KEY_TYPE_TEAM}
KEY_TYPE_NAMES = {value: name for name, value in KEY_TYPES.items()}
APIS = {"notify": pb.API_NOTIFY, "payments": pb.API_PAYMENTS}
API_NAMES = {value: name for name, value in APIS.items()}


def _time(value) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def principal_pb(principal: Principal) -> pb.Principal:
    return pb.Principal(
        organisation_id=principal.organisation_id,
        service_id=principal.service_id,
        key_type=KEY_TYPES.get(principal.key_type, pb.KEY_TYPE_UNSPECIFIED),
        scopes=list(principal.scopes),
        credential_id=principal.credential_id,
        api=principal.api,
        client_id=principal.client_id,
        subject=principal.subject,
    )


def organisation_pb(o) -> pb.Organisation:
    return pb.Organisation(id=o.id, name=o.name, create_time=_time(o.created_at))


def service_pb(s) -> pb.Service:
    return pb.Service(id=s.id, organisation_id=s.organisation_id, name=s.name)


def api_key_pb(k) -> pb.ApiKey:
    return pb.ApiKey(
        id=k.id,
        service_id=k.service_id,
        name=k.name,
        api=APIS[k.api],
        key_type=KEY_TYPES[k.key_type],
        prefix=k.prefix,
        create_time=_time(k.created_at),
        revoke_time=_time(k.revoked_at),
    )


def client_pb(c) -> pb.OAuthClient:
    return pb.OAuthClient(
        client_id=c.client_id,
        organisation_id=c.organisation_id,
        service_id=c.service_id or "",
        name=c.name,
        auth_method=c.auth_method,
        redirect_uris=c.redirect_uris.split(),
        post_logout_redirect_uris=c.post_logout_redirect_uris.split(),
        scopes=c.scopes.split(),
        grant_types=c.grant_types.split(),
        jwks=c.jwks or "",
        jwks_uri=c.jwks_uri or "",
        create_time=_time(c.created_at),
        revoke_time=_time(c.revoked_at),
    )


class IdentityServicer(identity_service_pb2_grpc.IdentityServiceServicer):
    """Implements ``IdentityService`` over the service layer."""

    def __init__(self, context: Context, keys: signing.KeyCache) -> None:
        self.context = context
        self.db = context.db
        self.keys = keys

    def _operator(self, grpc_context: grpc.aio.ServicerContext) -> None:
        metadata = dict(grpc_context.invocation_metadata() or ())
        if not self.context.is_operator(metadata.get("authorization")):
            raise UnauthenticatedError(
                "UNAUTHENTICATED", "the operator credential is missing or wrong"
            )

    # -- verification (the gateway) --

    async def VerifyApiKey(self, request, context):
        async with self.db.read() as session:
            principal = await credentials.verify_payments_key(session, key=request.key)
        return pb.VerifyApiKeyResponse(principal=principal_pb(principal))

    async def VerifyNotifyJwt(self, request, context):
        async with self.db.read() as session:
            principal = await credentials.verify_notify_jwt(
                session, self.context.box, token=request.token
            )
        return pb.VerifyNotifyJwtResponse(principal=principal_pb(principal))

    async def VerifyAccessToken(self, request, context):
        async with self.db.read() as session:
            principal = await oidc.principal_for_access_token(
                session, self.context, self.keys, request.token
            )
        return pb.VerifyAccessTokenResponse(principal=principal_pb(principal))

    # -- reads --

    async def GetOrganisation(self, request, context):
        self._operator(context)
        async with self.db.read() as session:
            found = await credentials.get_organisation(
                session, organisation_id=request.organisation_id
            )
        return pb.GetOrganisationResponse(organisation=organisation_pb(found))

    async def ListOrganisations(self, request, context):
        self._operator(context)
        async with self.db.read() as session:
            rows, next_token = await credentials.list_organisations(
                session, page_size=request.page_size, page_token=request.page_token
            )
        return pb.ListOrganisationsResponse(
            organisations=[organisation_pb(o) for o in rows], next_page_token=next_token
        )

    async def GetService(self, request, context):
        self._operator(context)
        async with self.db.read() as session:
            found = await credentials.get_service(session, service_id=request.service_id)
        return pb.GetServiceResponse(service=service_pb(found))

    async def ListServices(self, request, context):
        self._operator(context)
        async with self.db.read() as session:
            rows, next_token = await credentials.list_services(
                session,
                organisation_id=request.organisation_id,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return pb.ListServicesResponse(
            services=[service_pb(s) for s in rows], next_page_token=next_token
        )

    # -- admin --

    async def CreateOrganisation(self, request, context):
        self._operator(context)
        async with self.db.write() as session:
            created = await credentials.create_organisation(session, name=request.name)
        return pb.CreateOrganisationResponse(organisation=organisation_pb(created))

    async def CreateService(self, request, context):
        self._operator(context)
        async with self.db.write() as session:
            created = await credentials.create_service(
                session, organisation_id=request.organisation_id, name=request.name
            )
        return pb.CreateServiceResponse(service=service_pb(created))

    async def CreateApiKey(self, request, context):
        self._operator(context)
        async with self.db.write() as session:
            key, key_string = await credentials.create_api_key(
                session,
                self.context.box,
                service_id=request.service_id,
                name=request.name,
                api=API_NAMES.get(request.api, ""),
                key_type=KEY_TYPE_NAMES.get(request.key_type, ""),
            )
        return pb.CreateApiKeyResponse(api_key=api_key_pb(key), key=key_string)

    async def ListApiKeys(self, request, context):
        self._operator(context)
        async with self.db.read() as session:
            rows = await credentials.list_api_keys(session, service_id=request.service_id)
        return pb.ListApiKeysResponse(api_keys=[api_key_pb(k) for k in rows])

    async def RevokeApiKey(self, request, context):
        self._operator(context)
        async with self.db.write() as session:
            key = await credentials.revoke_api_key(
                session, self.context, api_key_id=request.api_key_id
            )
        return pb.RevokeApiKeyResponse(api_key=api_key_pb(key))

    async def CreateOAuthClient(self, request, context):
        self._operator(context)
        async with self.db.write() as session:
            client, secret = await credentials.create_oauth_client(
                session,
                organisation_id=request.organisation_id,
                service_id=request.service_id,
                name=request.name,
                auth_method=request.auth_method,
                redirect_uris=list(request.redirect_uris),
                post_logout_redirect_uris=list(request.post_logout_redirect_uris),
                scopes=list(request.scopes),
                grant_types=list(request.grant_types),
                jwks=request.jwks,
                jwks_uri=request.jwks_uri,
            )
        return pb.CreateOAuthClientResponse(client=client_pb(client), client_secret=secret)

    async def ListOAuthClients(self, request, context):
        self._operator(context)
        async with self.db.read() as session:
            rows = await credentials.list_oauth_clients(
                session, organisation_id=request.organisation_id
            )
        return pb.ListOAuthClientsResponse(clients=[client_pb(c) for c in rows])

    async def RevokeOAuthClient(self, request, context):
        self._operator(context)
        async with self.db.write() as session:
            client = await credentials.revoke_oauth_client(session, client_id=request.client_id)
        return pb.RevokeOAuthClientResponse(client=client_pb(client))


def registrar(context: Context, keys: signing.KeyCache):
    """``register(server)`` for the runtime's gRPC server builder."""

    def register(server: grpc.aio.Server) -> None:
        identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(
            IdentityServicer(context, keys), server
        )

    return register
