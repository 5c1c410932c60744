"""Composition root of the gateway component."""

from __future__ import annotations

from gateway import http_api, portal, proxy
from gateway.auth import Authenticator
from gateway.config import Settings
from gateway.grpc_api import EdgeHandler
from gateway.inbox import SandboxInbox
from gateway.quotas import Quotas
from gateway.sandbox import SandboxCredentials
from govkit.principal import PrincipalSigner
from govkit.runtime import Component


def build(settings: Settings | None = None) -> Component:
    """The gateway component, ready to ``serve()``.

    Its readiness check asks every backend's ``/readyz``: the gateway reports
    ready when the platform behind it can answer. Credentials are checked with
    identity's gRPC API and a principal signed for each backend is forwarded.
    """
    settings = settings or Settings.load()
    backends = settings.backend_urls()
    client = proxy.upstream_client(settings.upstream_timeout_seconds)

    def backend_ready(name: str, url: str):
        async def check() -> None:
            status, _ = await client.get_json(f"{url}/readyz", timeout=1.5)
            if status != 200:
                raise ConnectionError(f"{name} not ready")

        return check

    authenticator = Authenticator(settings.identity_grpc_address, ttl=settings.auth_cache_seconds)
    signer = PrincipalSigner(settings.principal_private_key.get_secret_value())
    quotas = Quotas(
        settings.rate_limit_storage,
        notify_per_minute=settings.notify_rate_limit_per_minute,
        pay_posts_per_second=settings.pay_posts_per_second,
    )

    edge = EdgeHandler(
        {
            "payments": settings.payments_grpc_address,
            "notify": settings.notify_grpc_address,
            "registers": settings.registers_grpc_address,
        },
        authenticator,
        signer,
    )

    admin_token = settings.admin_token_value()
    credentials = (
        SandboxCredentials(settings.identity_grpc_address, admin_token) if admin_token else None
    )
    portal_options = portal.PortalOptions(
        environment=settings.environment,
        credentials=credentials,
        rate_limit_storage=settings.rate_limit_storage,
        credentials_per_hour=settings.sandbox_credentials_per_hour,
        public_url=settings.public_url,
    )
    if admin_token:
        portal_options.csrf_secret = admin_token  # the same for every replica
        portal_options.inbox = SandboxInbox(
            backends["notify"],
            admin_token,
            client,
            authenticator,
            admin_token,
            secure=settings.public_url.startswith("https://"),
        )

    async def close_client(_component: Component) -> None:
        await client.close()
        await authenticator.close()
        await edge.close()
        if credentials is not None:
            await credentials.close()

    return Component(
        name="gateway",
        settings=settings,
        http_app=http_api.create_app(
            backends,
            client,
            authenticator,
            signer,
            quotas,
            http_api.EdgeOptions(
                max_body_bytes=settings.max_body_bytes,
                trusted_proxies=settings.trusted_proxy_list(),
                breaker_threshold=settings.breaker_threshold,
                breaker_cooldown=settings.breaker_cooldown_seconds,
                cors_origins=tuple(
                    o.strip() for o in settings.cors_origins.split(",") if o.strip()
                ),
            ),
            portal_options,
        ),
        uses_nats=False,
        extra_checks={name: backend_ready(name, url) for name, url in backends.items()},
        on_stop=close_client,
        grpc_register=lambda server: server.add_generic_rpc_handlers((edge,)),
    )
