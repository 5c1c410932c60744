"""Identity's use cases (no FastAPI, no gRPC here).

- :mod:`identity.service.credentials`: agencies, services, API keys, OAuth clients,
  and verifying the credentials the gateway receives.
- :mod:`identity.service.signing`: the signing keys and the JWKS.
- :mod:`identity.service.oidc`: the OpenID Connect provider.
- :mod:`identity.service.accounts`: citizens' accounts, sign-in and sessions.
"""
