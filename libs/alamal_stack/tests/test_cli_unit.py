"""Unit tests of the runner's small pure parts: arguments, back-off, log following."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from alamal_stack.cli import parse_args
from alamal_stack.follow import follow_logs
from alamal_stack.runner import RestartPolicy
from alamal_stack.services import SERVICES


def test_run_defaults() -> None:
    args = parse_args(["run"], SERVICES)
    assert args.data_dir == Path("data")
    assert args.kafka_port is None
    assert args.base_port is None
    assert args.partitions == 3
    assert args.services == SERVICES
    assert not args.follow
    assert args.replicas == 1
    assert (args.store, args.mongodb_url) == ("sqlite", None)


def test_replicas_are_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_args(["run", "--replicas", "2"], SERVICES).replicas == 2
    for wrong in ("0", "9"):
        with pytest.raises(SystemExit):
            parse_args(["run", "--replicas", wrong], SERVICES)
        assert "--replicas must be between 1 and 8" in capsys.readouterr().err


def test_store_backend_and_mongodb_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_args(["run", "--store", "mongodb"], SERVICES).store == "mongodb"
    url = "mongodb://m1/?replicaSet=rs0"
    given = parse_args(["run", "--mongodb-url", url], SERVICES)
    assert (given.store, given.mongodb_url) == ("mongodb", url)
    with pytest.raises(SystemExit):
        parse_args(["run", "--store", "sqlite", "--mongodb-url", url], SERVICES)
    assert "--mongodb-url needs --store mongodb" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["run", "--store", "postgres"], SERVICES)


def test_only_selects_services_and_rejects_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse_args(["run", "--only", "cases", "--base-port", "9100", "--follow"], SERVICES)
    assert [s.name for s in args.services] == ["cases"]
    assert args.base_port == 9100
    assert args.follow
    with pytest.raises(SystemExit):
        parse_args(["run", "--only", "billing"], SERVICES)
    assert "unknown service" in capsys.readouterr().err


def test_restart_backoff_doubles_up_to_a_cap() -> None:
    policy = RestartPolicy(first_delay=0.5, max_delay=3)
    assert [policy.delay(n) for n in range(5)] == [0.5, 1, 2, 3, 3]


async def test_follow_prefixes_complete_lines_with_the_process_name(tmp_path: Path) -> None:
    log = tmp_path / "intake.log"
    log.write_text("first\nsecond without end")
    out = io.StringIO()
    task = asyncio.create_task(
        follow_logs({"intake": log, "cases": tmp_path / "none.log"}, out, 0.01)
    )
    await asyncio.sleep(0.05)
    with log.open("a") as fh:
        fh.write(" yet\n")
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert out.getvalue() == "intake | first\nintake | second without end yet\n"


def test_platform_topics_include_dead_letters_per_service() -> None:
    contracts = pytest.importorskip("alamal_contracts.topics")
    from alamal_stack.topics import platform_topics

    topics = platform_topics(SERVICES)
    assert set(contracts.ALL_EVENT_TOPICS) <= set(topics)
    for spec in SERVICES:
        assert contracts.dead_letter_topic(spec.name) in topics
    assert topics == sorted(set(topics))
