"""schemathesis against every service's OpenAPI document, through the gateway.

The gateway's ``/openapi.json`` merges identity's, payments', notify's and registers'
own documents. Each operation is called with cases schemathesis derives from it (a
fixed seed: the same cases every run), with the sandbox's credentials for its family
(a Notify JWT made per request, the Pay key, an OAuth access token for registers and
identity, the operator token for ``/admin``), and every answer must pass two checks:

- ``not_a_server_error``: no 5xx;
- ``response_schema_conformance``: the body matches what the document says for that
  status, including the family's error format for 4XX and 5XX (see
  :mod:`govkit.openapi`).

Cases are generated twice per operation: valid ones (``positive``) and ones that break
the document (``negative``: wrong types, missing required values), and once more with
the sandbox's real ids in the path for the public API operations, so that the calls
reach past "not found". The bounded run (CI) takes ``BOUNDED`` cases per operation and
mode (a quarter of that with the real ids); the ``slow`` run ``FULL``.

Left out: key rotation and payment expiry (they would change what the other tests of
the shared platform see), and, from the real-id pass, everything that writes.
"""

from __future__ import annotations

import collections

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.specs.openapi.checks import response_schema_conformance

from govkit.testing.platform import notify_token

BOUNDED = 10
FULL = 100

#: Operations never called (they change state the other tests rely on).
LEFT_OUT = {"POST /admin/identity/signing-keys/rotate", "POST /admin/payments/expire"}

CHECKS = [checks.not_a_server_error, response_schema_conformance]


def credentials_for(platform):
    """A function giving the headers for one call to ``path``."""
    creds = platform.credentials()
    admin = platform.secrets()["identity_admin_token"]
    answer = httpx.post(
        f"{platform.gateway_url}/token",
        data={"grant_type": "client_credentials", "scope": "registers:write:country"},
        auth=(creds["oauth_client_id"], creds["oauth_client_secret"]),
        timeout=10,
    )
    access_token = answer.json()["access_token"]

    def headers(path: str) -> dict:
        if path.startswith("/admin/"):
            token = admin
        elif path.startswith("/v2/"):
            token = notify_token(creds["notify_api_key"])
        elif path.startswith("/v1/"):
            token = creds["pay_api_key"]
        else:
            token = access_token
        return {"Authorization": f"Bearer {token}"}

    return headers


def real_path_parameters(platform) -> dict[str, str]:
    """The sandbox's own ids, by path parameter name."""
    creds = platform.credentials()
    return {
        "name": "country",
        "key": "GB",
        "field": "country",
        "value": "GB",
        "notification_type": "sms",
        "template_id": creds["notify_sms_template_id"],
        "service_id": creds["sandbox_service_id"],
    }


def run_operations(platform, service: str, examples: int) -> tuple[dict, dict]:
    """Run every operation of ``service``'s part of the merged document; return the
    failures (label → list of descriptions) and the statuses seen (label → Counter)."""
    document = httpx.get(f"{platform.gateway_url}/openapi.json", timeout=30).json()
    assert any(tag["name"] == service for tag in document["tags"])
    schema = schemathesis.openapi.from_dict(document)
    headers = credentials_for(platform)
    real = real_path_parameters(platform)
    failures: dict[str, list[str]] = collections.defaultdict(list)
    statuses: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if service in op.definition.raw.get("tags", [])]
    assert operations, f"the merged document has no {service} operations"
    for operation in operations:
        if operation.label in LEFT_OUT:
            continue
        passes = [
            (GenerationMode.POSITIVE, None, examples),
            (GenerationMode.NEGATIVE, None, examples),
        ]
        public = not operation.path.startswith("/admin/")
        if public and operation.method.upper() == "GET" and "{" in operation.path:
            names = {p.name for p in operation.path_parameters}
            fixed = {name: real[name] for name in names if name in real}
            if fixed:
                # few: only the query varies, and some reads are whole registers
                passes.append((GenerationMode.POSITIVE, fixed, max(3, examples // 4)))
        for mode, fixed, count in passes:
            run_one(operation, mode, fixed, count, headers, platform, failures, statuses)
    return failures, statuses


def run_one(operation, mode, fixed, examples, headers, platform, failures, statuses) -> None:
    """Generate up to ``examples`` cases of ``operation`` and check each answer."""

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    def check(case) -> None:
        response = case.call(
            base_url=platform.gateway_url, headers=headers(operation.path), timeout=30
        )
        statuses[operation.label][response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as failure:  # Failure, FailureGroup
            failures[operation.label].append(
                f"{mode.value}: {case.method} {response.request.url} -> "
                f"{response.status_code} {response.text[:300]!r}: {str(failure)[:500]}"
            )

    try:
        check()
    except Unsatisfiable:
        pass  # nothing in the document to break (e.g. a free string path parameter)


SERVICES = ["identity", "payments", "notify", "registers"]


def report(failures: dict) -> str:
    return "\n".join(
        f"{label}:\n  " + "\n  ".join(sorted(set(items))[:5]) for label, items in failures.items()
    )


@pytest.mark.parametrize("service", SERVICES)
def test_no_operation_answers_a_5xx_or_a_body_its_document_does_not_describe(
    running_platform, service
):
    failures, statuses = run_operations(running_platform, service, BOUNDED)
    assert not failures, report(failures)
    assert sum(sum(seen.values()) for seen in statuses.values()) > 0


@pytest.mark.slow
@pytest.mark.parametrize("service", SERVICES)
def test_a_hundred_cases_per_operation_find_no_5xx_or_undocumented_body(running_platform, service):
    failures, _statuses = run_operations(running_platform, service, FULL)
    assert not failures, report(failures)
