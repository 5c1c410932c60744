"""Hostile input to the registers API through the gateway: every answer is a clear 4xx
(OpenRegister's JSON error from the service, or the gateway's own refusal), never a
500, and nothing is appended by a refused write."""

from __future__ import annotations

import httpx
import pytest

READS = [
    "/registers/country/records?page-size=-1",
    "/registers/country/records?page-size=1e9",
    "/registers/country/records?page-size=" + "9" * 40,
    "/registers/country/records?page-index=NaN",
    "/registers/country/records?page-index=%00",
    "/registers/country/records?page-index=%EF%BC%91",  # a full-width digit one
    "/registers/country/records/%00",
    "/registers/country/records/%F0%9F%98%80",
    "/registers/country/records/" + "A" * 3000,
    "/registers/country/records/name/%00/x",
    "/registers/country/records/%3Cscript%3E/entries",
    "/registers/country/entries?start=18446744073709551616",
    "/registers/country/entries?limit=0",
    "/registers/country/entries/0",
    "/registers/country/entries/-1",
    "/registers/country/entries/1.5",
    "/registers/country/entries/" + "9" * 30,
    "/registers/country/items/sha-256:" + "g" * 64,
    "/registers/country/items/" + "%FF" * 10,
    "/registers/country/proof/entries/1/0/merkle:sha-256",
    "/registers/country/proof/entries/99999999999999999/1/merkle:sha-256",
    "/registers/country/proof/consistency/2/1/merkle:sha-256",
    "/registers/country/proof/consistency/1/2/merkle:sha-1",
    "/registers/country/download-rsf/1/0",
    "/registers/country/download-rsf/abc",
    "/registers/country/download-rsf/99999999/99999999",
    "/registers/country/checkpoints/0",
    "/registers/country/checkpoints/" + "9" * 20,
    "/registers/country/records.xlsx",
    "/registers/country/records.json.csv",
    "/registers/COUNTRY/records",
    "/registers/%E2%80%AE/records",
    "/registers/" + "a" * 200 + "/records",
    "/registers/country/records/GB?page-index=0",
]


@pytest.mark.parametrize("path", READS)
def test_a_hostile_read_is_a_clear_refusal(running_platform, path):
    answer = httpx.get(running_platform.gateway_url + path, timeout=30)
    assert 400 <= answer.status_code < 500 or answer.status_code == 200, answer.status_code
    if answer.headers.get("content-type", "").startswith("application/json"):
        body = answer.json()
        if answer.status_code >= 400:
            assert body.get("code") == answer.status_code or "error" in body


def token(platform, scope: str = "registers:write:country") -> str:
    credentials = platform.credentials()
    answer = httpx.post(
        f"{platform.gateway_url}/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(credentials["oauth_client_id"], credentials["oauth_client_secret"]),
        timeout=10,
    )
    return answer.json()["access_token"]


RSF = "application/uk-gov-rsf"
JSON = "application/json"
WRITES = [
    ("load-rsf", RSF, b"add-item\t{\"country\":\"\x00\"}\n"),
    ("load-rsf", RSF, b"\xef\xbb\xbfadd-item\t{\"country\":\"ZZ\"}\n"),
    ("load-rsf", RSF, b"\xff\xfe\x00a"),
    ("load-rsf", RSF, b"\n" * 10_000 + b"frob"),
    ("load-rsf", RSF, b"append-entry\tuser\tZZ\t2020-01-01T00:00:00Z\t" + b"sha-256:;" * 500),
    ("load-rsf", RSF, b"assert-root-hash\t" + b"x" * 100_000),
    ("load-rsf", RSF + "; charset=latin-1", b"add-item\t{\"country\":\"\xe9\"}"),
    ("load-rsf", "", b"add-item\t{}"),
    ("load-rsf", "multipart/form-data; boundary=x", b"--x--"),
    ("entries", JSON, b"null"),
    ("entries", JSON, b"\"entries\""),
    ("entries", JSON, b"{\"entries\": [null]}"),
    ("entries", JSON, b"{\"entries\": [{\"key\": \"ZZ\", \"item\": {\"country\": 1}}]}"),
    ("entries", JSON, b"{\"entries\": [{\"key\": \"ZZ\", \"item\": {\"country\": \"ZZ\", \"name\": null}}]}"),
    ("entries", JSON, b"{\"entries\": [{\"key\": \"Z\\u0000Z\", \"item\": {\"country\": \"Z\\u0000Z\"}}]}"),
    ("entries", JSON, b"{\"entries\": [{\"key\": \"ZZ\", \"item\": {\"country\": \"ZZ\", \"\\ud800\": \"x\"}}]}"),
    ("entries", JSON, b"{\"entries\": [{\"key\": \"ZZ\", \"item\": {\"country\": \"\\ud800\"}}]}"),
    ("entries", JSON, b"[" * 50_000 + b"]" * 50_000),
    ("entries", JSON, b"{\"entries\": [{\"key\": \"ZZ\", \"item\": {\"country\": \"ZZ\"}}], \"assert-root-hash\": []}"),
    ("entries", "text/plain", b"{}"),
    ("entries", JSON, b"\xff\xfe"),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(WRITES)))
def test_a_hostile_write_is_refused_and_appends_nothing(running_platform, case):
    path, content_type, body = WRITES[case]
    gateway = running_platform.gateway_url
    before = httpx.get(f"{gateway}/registers/country/register", timeout=10).json()
    headers = {"Authorization": f"Bearer {token(running_platform)}"}
    if content_type:
        headers["Content-Type"] = content_type
    answer = httpx.post(
        f"{gateway}/registers/country/{path}", content=body, headers=headers, timeout=60
    )
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert answer.json()["code"] == answer.status_code
    after = httpx.get(f"{gateway}/registers/country/register", timeout=10).json()
    assert after["total-entries"] == before["total-entries"]


def test_other_methods_and_other_registers_are_refused_in_openregisters_format(running_platform):
    gateway = running_platform.gateway_url
    headers = {"Authorization": f"Bearer {token(running_platform)}"}
    with httpx.Client(timeout=10) as http:
        put = http.put(f"{gateway}/registers/country/records", headers=headers)
        delete = http.delete(f"{gateway}/registers/country/records/GB", headers=headers)
        other = http.post(
            f"{gateway}/registers/currency/entries",
            headers=headers,
            json={"entries": [{"key": "ZZZ", "item": {"currency": "ZZZ"}}]},
        )
        head = http.head(f"{gateway}/registers/country/records")
    assert put.status_code == delete.status_code == 405
    assert put.json()["code"] == 405
    assert other.status_code == 403 and other.json()["code"] == 403
    assert head.status_code in (200, 405)
