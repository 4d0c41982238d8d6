"""The broker is replaceable, the store is the truth: noticing a new broker incarnation.

Tansu (the embedded default) keeps everything in memory. When the runner restarts a dead broker
the new one has empty topics, no offsets and no groups: the events the relay had published to
the old one and consumers had not handled yet are gone, and the producers still hold them.
Each incarnation has its own cluster id (the runner gives every Tansu start a new one), which
clients read from the metadata. Before every batch the relay asks for it; when it differs from
the one the store last recorded, every retained published message is marked unsent again
(`Store.outbox_requeue`) and goes out again, each key's messages in their original order and
before anything newer. Consumers whose group offsets vanished start from the beginning of the
new topics, and their inboxes absorb what they had handled already.

"Confirmed" is therefore "older than the retention window": the outbox keeps published messages
for `outbox_retention_seconds` (then `Store.outbox_trim` lets them go), and a new incarnation
gets the whole window again. Apache Kafka keeps its cluster id for its whole life, so there
this never triggers. A store that has never recorded a cluster id (its first start) only
records it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.metadata import MetadataRequest

from alamal_runtime.store import Store, UnitOfWork

log = structlog.get_logger(__name__)

STATE_COLLECTION = "runtime-relay"
BROKER_STATE = "broker"

type ReadClusterId = Callable[[], Awaitable[str]]


class ClusterIdReader:
    """Reads the broker's cluster id with one metadata request on a connection it keeps."""

    def __init__(self, bootstrap: str, *, request_timeout_ms: int = 5000) -> None:
        self._bootstrap = bootstrap
        self._timeout_ms = request_timeout_ms
        self._client: AIOKafkaClient | None = None

    async def __call__(self) -> str:
        """The cluster id of the broker answering now; raises when none answers."""
        try:
            if self._client is None:
                client = AIOKafkaClient(
                    bootstrap_servers=self._bootstrap, request_timeout_ms=self._timeout_ms
                )
                self._client = client
                await client.bootstrap()
            client = self._client
            response = await client.send(client.get_random_node(), MetadataRequest([]))
        except BaseException:
            await self.close()  # a broker that went away: connect afresh next time
            raise
        cluster_id = getattr(response, "cluster_id", None)
        if not isinstance(cluster_id, str) or not cluster_id:
            raise RuntimeError("the broker's metadata names no cluster id")
        return cluster_id

    async def close(self) -> None:
        """Drop the connection."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()


class BrokerIncarnation:
    """Keeps a service's outbox in step with the broker incarnation it publishes to."""

    def __init__(self, store: Store, read_cluster_id: ReadClusterId) -> None:
        self._store = store
        self._read = read_cluster_id
        self._known: str | None = None
        self.requeued = 0
        """Messages marked for publishing again since this process started."""

    async def check(self) -> None:
        """Before publishing: if the broker is a new incarnation, requeue the retained outbox."""
        cluster_id = await self._read()
        if cluster_id == self._known:
            return
        state = await self._store.get(STATE_COLLECTION, BROKER_STATE)
        recorded = None if state is None else state.data.get("cluster_id")
        if recorded is not None and recorded != cluster_id:
            count = await self._store.outbox_requeue()
            self.requeued += count
            log.warning(
                "broker_incarnation_changed",
                previous_cluster_id=recorded,
                cluster_id=cluster_id,
                republishing=count,
            )
        if recorded != cluster_id:
            await self._store.with_transaction(_recorder(cluster_id))
        self._known = cluster_id


def _recorder(cluster_id: str) -> Callable[[UnitOfWork], Awaitable[None]]:
    async def record(uow: UnitOfWork) -> None:
        data = {"cluster_id": cluster_id, "seen_at": datetime.now(UTC).isoformat()}
        current = await uow.get(STATE_COLLECTION, BROKER_STATE)
        if current is None:
            await uow.insert(STATE_COLLECTION, BROKER_STATE, data)
        else:
            await uow.replace(
                STATE_COLLECTION, BROKER_STATE, data, expected_version=current.version
            )

    return record


class OutboxRetention:
    """Lets published outbox messages go once they are older than the retention window."""

    def __init__(self, store: Store, *, retention_seconds: float, every_seconds: float) -> None:
        self._store = store
        self._retention = retention_seconds
        self._every = every_seconds

    async def trim_once(self, now: datetime | None = None) -> dict[str, int]:
        """Delete what was published before the window; return how many per topic."""
        if self._retention <= 0:
            return {}
        bound = (now or datetime.now(UTC)) - timedelta(seconds=self._retention)
        trimmed = await self._store.outbox_trim(bound)
        if trimmed:
            log.info("outbox_trimmed", published_before=bound.isoformat(), per_topic=trimmed)
        return trimmed

    async def run(self) -> None:
        """Trim on an interval until cancelled; a failed trim is tried again next time."""
        while True:
            try:
                await self.trim_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_trim_failed", error=type(exc).__name__)
            await asyncio.sleep(self._every)
