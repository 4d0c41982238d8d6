"""Where a running embedded stack is: the state file the runner writes in its data folder.

`./alamal run` writes `<data>/stack.json` once every process is ready (broker bootstrap,
service URLs, process ids, the dev signing key's path, the trace UI if started), rewrites it
when a service restarts and removes it when the stack stops. The operator tool reads it, so an
operator on the embedded default needs no addresses. It holds no secret: the signing key stays
in its own 0600 file and only its path is named here.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

STATE_FILE = "stack.json"
FORMAT = 1


class StackStateError(Exception):
    """The state file is missing, unreadable or not one the runner wrote; the message says
    what to do."""


@dataclass(frozen=True, slots=True)
class InstanceState:
    """One replica process of a service: its own URL (readiness, its outbox) and process id."""

    url: str
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class ServiceState:
    """One service of the stack: the URL its replicas share, the first replica's process id,
    and every replica (`./alamal run --replicas N`)."""

    url: str
    pid: int | None = None
    instances: tuple[InstanceState, ...] = ()


@dataclass(frozen=True, slots=True)
class StackState:
    """What a running stack tells its operators."""

    runner_pid: int
    bootstrap: str
    services: dict[str, ServiceState]
    data_dir: str
    broker_pid: int | None = None
    signing_key: str | None = None
    trace_ui: str | None = None
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_json(self) -> str:
        """The file's text."""
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> StackState:
        """Parse the file's text; StackStateError if it is not a state file of this format."""
        try:
            raw = json.loads(text)
            if raw.pop("format") != FORMAT:
                raise StackStateError("the stack state file has another format: restart the stack")
            services = {name: _service(s) for name, s in raw.pop("services").items()}
            return cls(services=services, **raw)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise StackStateError(
                "the stack state file is damaged: stop the stack and start it again"
            ) from None

    def runner_alive(self) -> bool:
        """True while the runner process that wrote the file still exists."""
        return _alive(self.runner_pid)


def _service(raw: dict[str, object]) -> ServiceState:
    instances = raw.pop("instances", [])
    if not isinstance(instances, list):
        raise TypeError("instances is not a list")
    found = tuple(InstanceState(**i) for i in instances)
    return ServiceState(**raw, instances=found)  # type: ignore[arg-type]


def state_path(data_dir: Path) -> Path:
    """The state file of the stack whose data folder is `data_dir`."""
    return data_dir / STATE_FILE


def write_state(path: Path, state: StackState) -> None:
    """Replace the state file atomically (a reader never sees half a file); owner-only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(state.to_json())
    temporary.replace(path)


def remove_state(path: Path) -> None:
    """Remove the state file if there is one."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def read_state(path: Path) -> StackState:
    """The state of the running stack recorded at `path`, or StackStateError saying what to do."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StackStateError(
            f"no running embedded stack found ({path} does not exist): start it with "
            "`./alamal run`, or point at a stack with --data-dir or --bootstrap"
        ) from None
    except OSError as exc:
        reason = f"cannot read {path} ({exc.strerror}): check its permissions"
        raise StackStateError(reason) from None
    state = StackState.from_json(text)
    if not state.runner_alive():
        raise StackStateError(
            f"the stack recorded in {path} is not running (its runner, pid {state.runner_pid}, "
            "is gone): start it with `./alamal run`"
        )
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
