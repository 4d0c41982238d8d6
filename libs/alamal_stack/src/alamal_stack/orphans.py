"""Processes a dead runner left behind: found through its state file, stopped before a new
stack starts on the same data folder.

Services stop by themselves when their runner is gone (`EXIT_WITH_PID`); the broker, a binary,
cannot, and a service paused or stuck might not. A recorded process id is only signalled while
the process still runs a program of the stack (Linux: its command line names one), so a
process id reused by the system for something else is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from alamal_runtime.stack_state import StackState

_OURS = (b"tansu", b"alamal_", b"fake_service")


def recorded_pids(state: StackState) -> list[int]:
    """Every process id the state file names (broker, every replica of every service)."""
    pids = {state.broker_pid}
    for service in state.services.values():
        pids.add(service.pid)
        pids.update(instance.pid for instance in service.instances)
    return sorted(pid for pid in pids if pid is not None)


def _is_ours(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False  # gone, or no /proc to tell: leave it alone
    return any(marker in cmdline for marker in _OURS)


def stop_orphans(state: StackState, *, grace: float = 10.0) -> list[int]:
    """SIGCONT + SIGTERM every recorded process that is still one of ours, SIGKILL what is
    left after `grace` seconds; return the process ids that were signalled."""
    found = [pid for pid in recorded_pids(state) if _is_ours(pid)]
    for pid in found:
        for sig in (signal.SIGCONT, signal.SIGTERM):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    deadline = time.monotonic() + grace
    while (left := [pid for pid in found if _is_ours(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return found
