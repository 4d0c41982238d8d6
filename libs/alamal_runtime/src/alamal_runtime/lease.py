"""Leases in the service's own store: one holder at a time, fenced by an epoch.

Several replicas of a service share its store. Work that must run in one of them only (the
outbox relay, deliveries to one webhook endpoint) is done under a named lease: a document in
`runtime-leases` naming the holder and an epoch that grows by one at every change of holder.
Every write is a compare-and-set on the document's version, so two replicas can never both take
it; this works on both backends alike.

No clocks are compared between machines (as in Kubernetes' leader election): a holder renews
every `ttl / 3`; another replica that sees the document unchanged (same version) for a whole
`ttl` by its own clock takes it over, with the next epoch. The holder counts its lease valid
only until `ttl - margin` after it *started* its last successful renewal, so by its own clock it
stops before anyone may start. A holder paused longer than that (SIGSTOP, a long GC, a frozen
VM) finds on waking that its deadline has passed: it does nothing more under the lease, and its
next renewal fails because the version has moved on. A holder that stops cleanly releases the
lease, and the next replica takes it at once; so does one whose holder ran on this same machine
and whose process is gone (a kill -9 on the embedded stack), since no clock is needed to know it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from alamal_runtime.store import (
    DuplicateError,
    Record,
    StaleWriteError,
    Store,
    StoreError,
    UnitOfWork,
)

log = structlog.get_logger(__name__)

LEASES = "runtime-leases"

type Clock = Callable[[], float]


class LeaseLostError(RuntimeError):
    """This replica no longer holds the lease (it expired, or another replica took it)."""


def _machine() -> str:
    """This host's name and its process-id namespace (containers may share a host name)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:
        namespace = "-"
    return f"{socket.gethostname()}/{namespace}"


def instance_id() -> str:
    """A name for this process that no other process shares: `<machine>:<pid>:<random>`."""
    return f"{_machine()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def gone_from_here(holder: str) -> bool:
    """Whether `holder` (an `instance_id`) ran on this machine in a process that has ended.

    False whenever it cannot be sure (another host, a live process, a name of another form): a
    process id reused since only makes the caller wait for the lease to expire.
    """
    machine, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if machine != _machine() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by someone else
        return False
    return False


@dataclass(frozen=True, slots=True)
class Holding:
    """The lease as this replica holds it."""

    epoch: int
    version: int
    valid_until: float
    """By this replica's monotonic clock."""


class Lease:
    """One named lease as seen by one replica: `acquire`/`renew`/`release`, `valid`/`check`."""

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        holder: str,
        ttl_seconds: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("a lease needs a positive time to live")
        self.name = name
        self.holder = holder
        self.ttl = ttl_seconds
        self._store = store
        self._clock = clock
        self._margin = ttl_seconds / 5
        self._held: Holding | None = None
        self._seen: tuple[int, float] | None = None  # (version, when first seen unchanged)
        self.takeovers = 0
        """How often this replica took the lease over from a holder that went silent."""

    @property
    def epoch(self) -> int | None:
        """The epoch this replica holds, or None."""
        return None if self._held is None else self._held.epoch

    def valid(self) -> bool:
        """Whether this replica may still act under the lease (by its own clock)."""
        return self._held is not None and self._clock() < self._held.valid_until

    def check(self) -> int:
        """The held epoch; LeaseLostError when this replica may not act under the lease now."""
        held = self._held
        if held is None or self._clock() >= held.valid_until:
            raise LeaseLostError(f"lease {self.name} is not held by {self.holder}")
        return held.epoch

    async def acquire(self) -> bool:
        """Take the lease if it is free, released or silent for a whole ttl; renew it if held.
        Returns whether this replica holds it now."""
        if self._held is not None:
            return await self.renew()
        started = self._clock()
        record = await self._store.get(LEASES, self.name)
        if record is None:
            return await self._write(started, None, epoch=1)
        data = record.data
        if data.get("holder") is None:  # released: no need to wait
            return await self._write(started, record, epoch=int(data["epoch"]) + 1)
        if gone_from_here(str(data["holder"])):
            return await self._take_over(started, record)
        if self._seen is None or self._seen[0] != record.version:
            self._seen = (record.version, started)  # alive, or not yet seen long enough
            return False
        if started - self._seen[1] < self.ttl:
            return False
        return await self._take_over(started, record)

    async def _take_over(self, started: float, record: Record) -> bool:
        data = record.data
        taken = await self._write(started, record, epoch=int(data["epoch"]) + 1)
        if taken:
            self.takeovers += 1
            log.warning(
                "lease_taken_over",
                lease=self.name,
                previous_holder=data.get("holder"),
                epoch=self.epoch,
            )
        return taken

    async def renew(self) -> bool:
        """Extend the held lease; False (and no longer held) when it was lost meanwhile."""
        held = self._held
        if held is None:
            return False
        started = self._clock()
        if started >= held.valid_until:
            self._lose("expired")
            return False
        record = await self._store.get(LEASES, self.name)
        if record is None or record.version != held.version:
            self._lose("taken")
            return False
        return await self._write(started, record, epoch=held.epoch)

    async def release(self) -> None:
        """Give the lease up so another replica takes it at once (a clean stop)."""
        held, self._held = self._held, None
        if held is None:
            return
        with contextlib.suppress(StoreError):
            await self._store.with_transaction(
                _put(self.name, held.version, {"holder": None, "epoch": held.epoch})
            )

    async def _write(self, started: float, current: Record | None, *, epoch: int) -> bool:
        data = {
            "holder": self.holder,
            "epoch": epoch,
            "renewed_at": datetime.now(UTC).isoformat(),  # for people: never compared
        }
        expected = None if current is None else current.version
        try:
            version = await self._store.with_transaction(_put(self.name, expected, data))
        except (DuplicateError, StaleWriteError):
            if self._held is not None:
                self._lose("taken")
            return False
        self._held = Holding(epoch, version, started + self.ttl - self._margin)
        self._seen = None
        return True

    def _lose(self, why: str) -> None:
        if self._held is not None:
            log.warning("lease_lost", lease=self.name, epoch=self._held.epoch, why=why)
        self._held = None


def _put(
    name: str, expected: int | None, data: dict[str, object]
) -> Callable[[UnitOfWork], Awaitable[int]]:
    async def put(uow: UnitOfWork) -> int:
        if expected is None:
            return (await uow.insert(LEASES, name, data)).version
        return (await uow.replace(LEASES, name, data, expected_version=expected)).version

    return put


async def lead(
    lease: Lease,
    work: Callable[[], Coroutine[Any, Any, None]],
    *,
    retry_seconds: float | None = None,
) -> None:
    """Run `work` while holding `lease`, until cancelled: wait for the lease, start the work,
    renew every ttl/3, and cancel the work as soon as a renewal fails (then wait again)."""
    every = lease.ttl / 3 if retry_seconds is None else retry_seconds
    try:
        while True:
            try:
                holding = await lease.acquire()
            except StoreError as exc:
                log.warning("lease_unavailable", lease=lease.name, error=type(exc).__name__)
                holding = False
            if not holding:
                await asyncio.sleep(every)
                continue
            log.info("lease_held", lease=lease.name, epoch=lease.epoch)
            task = asyncio.create_task(work(), name=f"lease-{lease.name}")
            try:
                while not task.done():
                    await asyncio.wait({task}, timeout=every)
                    if task.done():
                        break
                    try:
                        renewed = await lease.renew()
                    except StoreError as exc:  # keep working until the deadline says stop
                        log.warning(
                            "lease_renew_failed", lease=lease.name, error=type(exc).__name__
                        )
                        renewed = lease.valid()
                    if not renewed:
                        break
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error(
                    "lease_work_failed", lease=lease.name, error=type(task.exception()).__name__
                )
                await asyncio.sleep(every)
    finally:
        await lease.release()
