"""alamal-ops finds the embedded stack through its state file, and every failure is one line
that says what to do: no state file, a stack that is down, a broker or service that does not
answer. Never a traceback."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from alamal_ops.cli import main
from alamal_runtime.auth import generate_keypair
from alamal_runtime.stack_state import ServiceState, StackState, state_path, write_state
from alamal_stack.processes import free_port

from .conftest import SERVICE


def run_cli(*args: str) -> tuple[int, str]:
    """Run the CLI in-process with a narrow console (errors must not wrap); (status, output)."""
    buffer = io.StringIO()
    code = main(["--no-progress", *args], console=Console(file=buffer, width=60))
    return code, buffer.getvalue()


def a_dead_pid() -> int:
    """The id of a process that has ended."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


def state(data: Path, *, bootstrap: str, runner: int | None = None, **urls: str) -> None:
    """Write a state file as the runner would."""
    write_state(
        state_path(data),
        StackState(
            runner_pid=runner or os.getpid(),
            bootstrap=bootstrap,
            services={name: ServiceState(url=url, pid=None) for name, url in urls.items()},
            data_dir=str(data),
            signing_key=str(data / "keys" / "signing.pem"),
        ),
    )


def one_line(output: str) -> str:
    """The output, asserted to be a single error line without a traceback."""
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    assert "Traceback" not in output
    return lines[0]


def test_without_a_state_file_it_says_how_to_start_the_stack(tmp_path: Path) -> None:
    code, output = run_cli("--data-dir", str(tmp_path), "dead-letters", "list")
    assert code == 1
    line = one_line(output)
    assert "no running embedded stack found" in line
    assert "./alamal run" in line


def test_a_stack_that_stopped_without_cleaning_up_is_reported_as_down(tmp_path: Path) -> None:
    state(tmp_path, bootstrap="127.0.0.1:1", runner=a_dead_pid())
    code, output = run_cli("--data-dir", str(tmp_path), "lag", "--group", "alamal-cases")
    assert code == 1
    assert "is not running" in one_line(output)


def test_a_damaged_state_file_is_one_line(tmp_path: Path) -> None:
    state_path(tmp_path).write_text("{not json", encoding="utf-8")
    code, output = run_cli("--data-dir", str(tmp_path), "outbox")
    assert code == 1
    assert "damaged" in one_line(output)


def test_a_broker_that_does_not_answer_is_one_line(tmp_path: Path) -> None:
    state(tmp_path, bootstrap=f"127.0.0.1:{free_port()}")
    code, output = run_cli("--data-dir", str(tmp_path), "lag", "--group", "alamal-cases")
    assert code == 1
    assert "cannot reach Kafka" in one_line(output)
    code, output = run_cli("--bootstrap", f"127.0.0.1:{free_port()}", "lag", "--group", "g")
    assert "give --bootstrap" in one_line(output)


def test_a_service_that_does_not_answer_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "signing.pem").write_text(generate_keypair()[0], encoding="ascii")
    state(tmp_path, bootstrap="127.0.0.1:1", notifications=f"http://127.0.0.1:{free_port()}")
    code, output = run_cli("--data-dir", str(tmp_path), "webhooks", "resend", "endpoint-1", "msg_1")
    assert code == 1
    assert "a service did not answer (ConnectError)" in one_line(output)


async def test_the_state_file_is_read_by_default(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state(tmp_path, bootstrap=kafka_bootstrap)
    monkeypatch.chdir(tmp_path.parent)
    code, output = await asyncio.to_thread(
        run_cli, "--data-dir", tmp_path.name, "lag", "--group", f"{SERVICE}-nobody", "--all"
    )
    assert code == 0, output
    assert "total lag" in output


def test_the_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "alamal_ops", "dead-letters", "list"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("ALAMAL_")},
        check=False,
    )
    assert proc.returncode == 1
    assert "no running embedded stack found" in one_line(proc.stdout + proc.stderr)
