"""Registers through the gateway of the running platform (``govplat up``), as agencies
use them: the official-style ``openregister-client`` from PyPI unchanged, writes with an
OAuth access token, signed checkpoints, and ``govplat registers verify``."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys

import httpx
import pycountry
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from openregister_client.registers import Register


def token(platform, scope: str) -> str:
    credentials = platform.credentials()
    answer = httpx.post(
        f"{platform.gateway_url}/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(credentials["oauth_client_id"], credentials["oauth_client_secret"]),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def verify_note(note: str, verifier_key: str) -> tuple[int, bytes]:
    """A C2SP signed-note checkpoint checked here with the published key: (size, root)."""
    name, key_id, encoded = verifier_key.strip().split("+", 2)
    raw = base64.b64decode(encoded)
    assert raw[0] == 1 and hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == key_id
    text, signatures = note.split("\n\n", 1)
    line = next(s for s in signatures.splitlines() if s.startswith(f"\u2014 {name} "))
    blob = base64.b64decode(line.rsplit(" ", 1)[1])
    assert blob[:4].hex() == key_id
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(blob[4:], (text + "\n").encode())
    origin, size, root = text.split("\n")[:3]
    assert origin.endswith("/registers/country")
    return int(size), base64.b64decode(root)


def test_openregister_client_reads_the_country_register_through_the_gateway(running_platform):
    gateway = running_platform.gateway_url
    root = Register(url_template=f"{gateway}/registers/%(name)s/")
    assert root.discover_complete
    country = root.get_register("country")
    assert country is not None
    info = country.register_info
    assert info.register == "country" and info.fields[:2] == ["country", "name"]
    records = list(country.get_records(page_size=50))
    assert len(records) == info.total_records == len(country)
    by_key = {record.key: record for record in records}
    current = {c.alpha_2 for c in pycountry.countries}
    assert current <= set(by_key)
    assert by_key["GB"].item.name == "United Kingdom"
    assert by_key["SU"].item.end_date is not None  # ended: ISO 3166-3
    # A reused code keeps its history: Czechoslovakia, then Serbia and Montenegro.
    history = [entry.get_items() for entry in by_key["CS"].get_entries()]
    assert [next(items).name for items in history][:2] == [
        "Czechoslovakia, Czechoslovak Socialist Republic",
        "Serbia and Montenegro",
    ]
    entries = list(country.get_entries(page_size=100))
    assert len(entries) == info.total_entries
    assert [e.entry_number for e in entries] == list(range(1, len(entries) + 1))
    first = country.get_entry(1)
    assert first.key == entries[0].key
    assert country.get_item(entries[0].item_hashes[0]) is not None
    assert country.get_record("GB").item.official_name == (
        "United Kingdom of Great Britain and Northern Ireland"
    )


def test_links_between_registers_are_curies_the_client_resolves(running_platform):
    gateway = running_platform.gateway_url
    root = Register(url_template=f"{gateway}/registers/%(name)s/")
    subdivisions = root.get_register("uk-subdivision")
    devon = subdivisions.get_record("GB-DEV").item
    assert devon.parent == "uk-subdivision:GB-ENG"
    assert root.get_record_using_curie(devon.parent).item.name == "England"
    assert root.expand_curie(devon.parent) == f"{gateway}/registers/uk-subdivision/records/GB-ENG"
    assert root.get_register("country").get_record(devon.country).item.name == "United Kingdom"
    for name in ("currency", "language"):
        assert len(root.get_register(name)) > 100


def test_an_append_through_the_gateway_needs_the_scope_and_moves_the_signed_checkpoint(
    running_platform,
):
    gateway = running_platform.gateway_url
    with httpx.Client(base_url=gateway, timeout=30) as http:
        key = http.get("/registers/country/checkpoint-key").text
        before = http.get("/registers/country/checkpoint").text
        old_size, old_root = verify_note(before, key)
        gb = http.get("/registers/country/records/GB").json()["GB"]["item"][0]
        body = {"entries": [{"key": "GB", "item": gb}]}
        refused = http.post("/registers/country/entries", json=body)
        assert refused.status_code == 401
        wrong_scope = http.post(
            "/registers/country/entries",
            json=body,
            headers={"Authorization": f"Bearer {token(running_platform, 'payments:read')}"},
        )
        assert wrong_scope.status_code == 403
        assert wrong_scope.json()["code"] == 403
        appended = http.post(
            "/registers/country/entries",
            json=body,
            headers={
                "Authorization": f"Bearer {token(running_platform, 'registers:write:country')}"
            },
        )
        assert appended.status_code == 201, appended.text
        new_size, new_root = verify_note(http.get("/registers/country/checkpoint").text, key)
        assert new_size > old_size
        assert appended.json()["entries"][0]["key"] == "GB"
        consistency = http.get(
            f"/registers/country/proof/consistency/{old_size}/{new_size}/merkle:sha-256"
        ).json()
        assert consistency["merkle-consistency-nodes"]
        assert http.get(f"/registers/country/checkpoints/{old_size}").text == before
        rsf = http.get(f"/registers/country/download-rsf/{old_size}").text.splitlines()
        assert rsf[0] == f"assert-root-hash\tsha-256:{old_root.hex()}"
        assert rsf[-1] == f"assert-root-hash\tsha-256:{new_root.hex()}"


def test_govplat_registers_verify_finds_the_seeded_registers_intact(running_platform):
    for name in ("country", "language"):
        done = subprocess.run(
            [sys.executable, "-m", "govplat_cli", "registers", "verify", name],
            env=running_platform.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "entries verified" in done.stdout


async def test_each_seeded_entry_is_published_as_entry_appended_on_jetstream(running_platform):
    import nats

    from govplat.registers.v1 import events_pb2

    client = await nats.connect(running_platform.nats_url)
    try:
        js = client.jetstream()
        reader = await js.pull_subscribe(
            "govplat.registers.v1.entry_appended", durable=None, stream="GOVPLAT_REGISTERS"
        )
        found = {}
        for _ in range(40):
            for message in await reader.fetch(500, timeout=10):
                event = events_pb2.EntryAppended.FromString(message.data)
                found.setdefault(event.register, []).append(event)
                assert message.headers["ce-type"] == "govplat.registers.v1.EntryAppended"
            if len(found.get("country", [])) >= 280:
                break
    finally:
        await client.close()
    country = sorted(found["country"], key=lambda e: e.entry_number)
    assert [e.entry_number for e in country[:3]] == [1, 2, 3]
    first = country[0]
    assert first.tree_size == 1 and len(first.root_hash) == 32
    assert first.items_json[0].startswith('{"country":"')
    async with httpx.AsyncClient(base_url=running_platform.gateway_url, timeout=10) as http:
        rsf = await http.get(
            f"/registers/country/download-rsf/{country[-1].tree_size}/{country[-1].tree_size}"
        )
    assert rsf.text.strip() == f"assert-root-hash\tsha-256:{country[-1].root_hash.hex()}"
