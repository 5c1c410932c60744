"""``govplat up``'s supervision (decision 42): what exits is started again, and a crash
loop stops the platform. Component processes are stood in for by ``true`` (exits at
once) and ``sleep`` (keeps running); tests/test_faults.py kills the real ones."""

from __future__ import annotations

import subprocess

import pytest

from govplat_cli.up import RESTART_LIMIT, Child, Platform, PlatformError, UpSettings


def supervised(tmp_path, command: list[str]) -> tuple[Platform, list[str]]:
    platform = Platform(UpSettings(data_dir=tmp_path))
    spawned: list[str] = []

    def spawn(name: str) -> Child:
        spawned.append(name)
        child = Child(name, subprocess.Popen(command), tmp_path / f"{name}.log", "", "")
        platform.children.append(child)
        return child

    platform.spawn = spawn
    return platform, spawned


def test_a_component_that_exits_is_started_again_and_one_that_runs_is_left_alone(tmp_path):
    platform, spawned = supervised(tmp_path, ["true"])
    platform.spawn("notify")
    platform.children.append(
        Child("payments", subprocess.Popen(["sleep", "30"]), tmp_path / "p.log", "", "")
    )
    platform.children[0].process.wait()
    reported = []
    platform.restart_dead(lambda name, status, count: reported.append((name, status, count)))
    assert spawned == ["notify", "notify"]
    assert reported == [("notify", 0, 1)]
    assert sorted(c.name for c in platform.children) == ["notify", "payments"]
    platform.stop()


def test_a_component_that_keeps_exiting_stops_the_platform_after_the_restart_limit(tmp_path):
    platform, spawned = supervised(tmp_path, ["true"])
    platform.spawn("notify")
    for _ in range(RESTART_LIMIT):
        for child in platform.children:
            child.process.wait()
        platform.restart_dead()
    for child in platform.children:
        child.process.wait()
    with pytest.raises(PlatformError, match=r"notify stopped 6 times within 60s"):
        platform.restart_dead()
    assert len(spawned) == RESTART_LIMIT + 1
    platform.stop()


def test_notify_runs_as_an_api_process_and_an_events_process_sharing_its_settings(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("GOVPLAT_NOTIFY_SMTP_HOST", "mail.example.test")
    platform = Platform(UpSettings(data_dir=tmp_path))
    assert platform.processes[-1] == "notify-events"
    api, events = platform.child_env("notify"), platform.child_env("notify-events")
    assert (api["GOVPLAT_ROLE"], events["GOVPLAT_ROLE"]) == ("api", "events")
    assert api["GOVPLAT_DATABASE_URL"] == events["GOVPLAT_DATABASE_URL"]
    assert api["GOVPLAT_SMTP_HOST"] == events["GOVPLAT_SMTP_HOST"] == "mail.example.test"
    assert api["GOVPLAT_PRINCIPAL_PUBLIC_KEY"] == events["GOVPLAT_PRINCIPAL_PUBLIC_KEY"]
    assert (events["GOVPLAT_HTTP_PORT"], events["GOVPLAT_GRPC_PORT"]) == ("8005", "50055")
    assert platform.child_env("payments")["GOVPLAT_ROLE"] == "all"


def test_with_the_events_process_turned_off_notify_runs_everything_itself(tmp_path):
    platform = Platform(UpSettings(data_dir=tmp_path, notify_events_process=False))
    assert "notify-events" not in platform.processes
    assert platform.child_env("notify")["GOVPLAT_ROLE"] == "all"
