"""The personal-data scanner finds what the journeys must never log, and not ids."""

from __future__ import annotations

import json
import uuid

from govkit.testing.privacy import findings, luhn_valid, shaped_like_personal_data


def test_emails_card_numbers_uk_mobiles_jwts_and_keys_are_recognised_by_shape():
    text = (
        "to jo.bloggs+x@example.gov.uk card 4444 3333 2222 1111 phone +44 7700 900123 "
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2ln "
        "key api_test_0123456789abcdef0123"
    )
    kinds = [found.split(" ")[0] for found in shaped_like_personal_data(text)]
    assert sorted(kinds) == ["card", "email", "key", "phone", "token"]


def test_ids_hashes_and_numbers_that_fail_luhn_are_not_personal_data():
    ids = [
        str(uuid.UUID("4f1a2b3c-0000-4000-8000-07768626283a")),
        "sha-256:07768626283" + "ab" * 10,
        "entry 4444333322221112",  # fails the Luhn check
    ]
    assert not luhn_valid("4444333322221112")
    for text in ids:
        assert shaped_like_personal_data(text) == [], text


def test_findings_reads_every_log_line_and_span_and_finds_exact_values_spaced_or_not(tmp_path):
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "notify.log").write_text(
        '{"msg": "sent"}\n{"msg": "to 07700 900 002"}\n', encoding="utf-8"
    )
    trace_file = tmp_path / "traces.jsonl"
    span = {"service": "govplat-notify", "name": "email send", "attributes": {"x": "Tegwen"}}
    trace_file.write_text(json.dumps(span) + "\n", encoding="utf-8")

    found = findings(tmp_path, ["07700900002", "tegwen"], trace_file)

    assert "notify.log:2: the value '07700900002' (spaced)" in found
    assert "traces.jsonl:1 (govplat-notify email send): the value 'tegwen'" in found
    assert not any(where.startswith("notify.log:1") for where in found)
