"""Which stack a command talks to: the embedded stack's state file by default, or the flags.

`./alamal run` records its broker, service URLs and dev signing key in `<data>/stack.json`; the
tool reads it from `--data-dir` (default `./data`, or `$ALAMAL_DATA_DIR`). `--bootstrap` (or
`$ALAMAL_OPS_KAFKA_BOOTSTRAP`) names another cluster instead, with the services on their
default URLs unless `--service NAME=URL` says otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from alamal_ops.services_api import DEFAULT_URLS, SIGNING_KEY_ENV, OpsError
from alamal_runtime.stack_state import StackState, StackStateError, read_state, state_path

BOOTSTRAP_ENV = "ALAMAL_OPS_KAFKA_BOOTSTRAP"
DATA_DIR_ENV = "ALAMAL_DATA_DIR"


@dataclass
class Target:
    """Where the broker, the services and the signing key are, found once per command."""

    data_dir: Path
    bootstrap_flag: str | None = None
    _state: StackState | None = field(default=None, repr=False)

    @classmethod
    def from_flags(cls, data_dir: str | None, bootstrap: str | None) -> Target:
        """From the command line, then the environment, then `./data`."""
        return cls(
            Path(data_dir or os.environ.get(DATA_DIR_ENV) or "data"),
            bootstrap or os.environ.get(BOOTSTRAP_ENV) or None,
        )

    def state(self) -> StackState:
        """The running embedded stack's state, or OpsError saying how to start or name one."""
        if self._state is None:
            try:
                self._state = read_state(state_path(self.data_dir))
            except StackStateError as exc:
                raise OpsError(str(exc)) from None
        return self._state

    def bootstrap(self) -> str:
        """The Kafka bootstrap servers to use."""
        return self.bootstrap_flag or self.state().bootstrap

    def url(self, service: str) -> str:
        """A service's base URL."""
        if self.bootstrap_flag is not None:
            return DEFAULT_URLS[service]
        entry = self.state().services.get(service)
        if entry is None:
            raise OpsError(f"{service} is not part of the running stack (started with --only?)")
        return entry.url

    def urls(self) -> dict[str, str]:
        """Every service's base URL."""
        if self.bootstrap_flag is not None:
            return dict(DEFAULT_URLS)
        return {name: entry.url for name, entry in self.state().services.items()}

    def signing_key_file(self, given: str | None) -> str:
        """The gateway signing key: the flag, the environment, or the embedded stack's dev key."""
        if given or os.environ.get(SIGNING_KEY_ENV):
            return given or os.environ[SIGNING_KEY_ENV]
        if self.bootstrap_flag is None:
            key = self.state().signing_key
            if key:
                return key
        raise OpsError(f"give --signing-key-file or set {SIGNING_KEY_ENV}")
