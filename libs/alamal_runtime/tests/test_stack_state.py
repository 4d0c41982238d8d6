"""The embedded stack's state file: written atomically and owner-only, read back whole, and
refused with advice when it is of another format or its runner is gone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from alamal_runtime.stack_state import (
    ServiceState,
    StackState,
    StackStateError,
    read_state,
    remove_state,
    state_path,
    write_state,
)


def a_state(data: Path, runner: int | None = None) -> StackState:
    """A state as the runner writes it."""
    return StackState(
        runner_pid=runner or os.getpid(),
        bootstrap="127.0.0.1:9092",
        broker_pid=1,
        services={"intake": ServiceState(url="http://127.0.0.1:8101", pid=2)},
        data_dir=str(data),
        signing_key=str(data / "keys" / "signing.pem"),
    )


def test_round_trip_owner_only(tmp_path: Path) -> None:
    path = state_path(tmp_path)
    write_state(path, a_state(tmp_path))
    got = read_state(path)
    assert got.services == {"intake": ServiceState(url="http://127.0.0.1:8101", pid=2)}
    assert got.bootstrap == "127.0.0.1:9092"
    assert path.stat().st_mode & 0o777 == 0o600
    assert not path.with_name(path.name + ".tmp").exists()
    remove_state(path)
    remove_state(path)  # idempotent
    with pytest.raises(StackStateError, match="does not exist"):
        read_state(path)


def test_another_format_is_refused_with_advice(tmp_path: Path) -> None:
    path = state_path(tmp_path)
    raw = json.loads(a_state(tmp_path).to_json()) | {"format": 99}
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(StackStateError, match="another format: restart the stack"):
        read_state(path)


def test_a_state_whose_runner_is_gone_is_refused(tmp_path: Path) -> None:
    path = state_path(tmp_path)
    write_state(path, a_state(tmp_path, runner=2**22 + 12345))  # beyond pid_max by default
    with pytest.raises(StackStateError, match="is not running"):
        read_state(path)
