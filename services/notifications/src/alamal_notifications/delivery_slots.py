"""Webhook deliveries split among replicas: every endpoint belongs to one of a fixed number of
delivery slots, and a replica delivers only to the endpoints of the slots whose lease it holds.

A slot's lease is held by one replica at a time (`alamal_runtime.lease`), so no message is ever
handed to two replicas' senders at once; a replica that dies or stalls loses its slots to the
others after the lease's time to live, and what it left unrecorded is sent again with the same
`webhook-id` (partners de-duplicate by it, as Standard Webhooks asks). A replica takes every
slot that is free or released, and the slots of a replica silent for a whole ttl (at once when
that replica's process is gone from this machine). Slots are not rebalanced while their holder
lives: the split guarantees one sender per endpoint, not an even load.
"""

from __future__ import annotations

import time
import zlib

import structlog

from alamal_runtime.lease import Clock, Lease
from alamal_runtime.store import Store, StoreError

log = structlog.get_logger(__name__)


def slot_of(endpoint_id: str, slots: int) -> int:
    """The delivery slot an endpoint belongs to (stable across processes and versions)."""
    return zlib.crc32(endpoint_id.encode("utf-8")) % slots


def lease_name(slot: int) -> str:
    """The name of a delivery slot's lease."""
    return f"webhook-delivery-{slot}"


class DeliverySlots:
    """The delivery slot leases as one replica sees them."""

    def __init__(
        self,
        store: Store,
        *,
        holder: str,
        slots: int,
        ttl_seconds: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self._leases = [
            Lease(store, lease_name(n), holder=holder, ttl_seconds=ttl_seconds, clock=clock)
            for n in range(slots)
        ]
        self._clock = clock
        self._every = ttl_seconds / 3
        self._next_round = 0.0

    @property
    def held(self) -> list[int]:
        """The slots this replica may deliver for now."""
        return [n for n, lease in enumerate(self._leases) if lease.valid()]

    def may_deliver(self, endpoint_id: str) -> bool:
        """Whether this replica may send to the endpoint now (by its own clock)."""
        return self._leases[slot_of(endpoint_id, len(self._leases))].valid()

    def next_round_in(self) -> float:
        """Seconds until the leases are due to be renewed or tried again."""
        return max(self._next_round - self._clock(), 0.0)

    async def refresh(self) -> None:
        """Renew the held slots and try the others, at most every third of the ttl."""
        now = self._clock()
        if now < self._next_round:
            return
        self._next_round = now + self._every
        for lease in self._leases:
            try:
                await lease.acquire()  # renews a held lease
            except StoreError as exc:
                error = type(exc).__name__
                log.warning("delivery_lease_unavailable", lease=lease.name, error=error)

    async def release(self) -> None:
        """Give every held slot up (a clean stop): the other replicas take them at once."""
        for lease in self._leases:
            await lease.release()
