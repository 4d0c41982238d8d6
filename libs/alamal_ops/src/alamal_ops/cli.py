"""The operator command line (`alamal-ops`, or `python -m alamal_ops`).

Shows ids, codes, counts and offsets only: never payload values or personal data. Finds the
embedded stack through its state file (`./data/stack.json`); every failure is one line that
says what to do, never a traceback (unless `--debug`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

import httpx
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from alamal_ops import dead_letters as dl
from alamal_ops.kafka_io import list_topics
from alamal_ops.services_api import (
    OpsError,
    Signer,
    outbox_backlog,
    recover_webhooks,
    resend_webhook,
)
from alamal_ops.target import BOOTSTRAP_ENV, DATA_DIR_ENV, Target
from alamal_runtime.metrics import consumer_lag

type Command = Callable[[argparse.Namespace, Console], Coroutine[Any, Any, int]]


def main(argv: Sequence[str] | None = None, *, console: Console | None = None) -> int:
    """Parse the command line and run one command; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    out = console or Console()
    command: Command | None = getattr(args, "run", None)
    if command is None:
        parser.print_help()
        return 2
    # Client libraries log connection failures themselves; the one line below says it all.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    args.target = Target.from_flags(args.data_dir, args.bootstrap)
    try:
        return asyncio.run(command(args, out))
    except KeyboardInterrupt:
        _fail(out, "interrupted")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        _fail(out, _explain(exc, args.target))
        return 1


def _fail(out: Console, message: str) -> None:
    out.print("error: " + message, style="red", markup=False, highlight=False, soft_wrap=True)


def _explain(exc: Exception, target: Target) -> str:
    """One line: what failed and what to do about it."""
    if isinstance(exc, OpsError):
        return str(exc)
    if isinstance(exc, KafkaError):
        where = target.bootstrap_flag or f"the address in {target.data_dir}/stack.json"
        return (
            f"cannot reach Kafka at {where} ({type(exc).__name__}): is the stack running? "
            "Start it with `./alamal run`, or give --bootstrap HOST:PORT"
        )
    if isinstance(exc, httpx.HTTPError):
        return (
            f"a service did not answer ({type(exc).__name__}): check `/health/ready` of the "
            "services, or the URLs given with --service/--url"
        )
    return f"unexpected {type(exc).__name__}; run again with --debug to see where it failed"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alamal-ops", description=__doc__)
    parser.add_argument(
        "--data-dir",
        help=f"data folder of the embedded stack to use (default ${DATA_DIR_ENV} or ./data)",
    )
    parser.add_argument(
        "--bootstrap",
        help=f"Kafka bootstrap servers of another cluster (or ${BOOTSTRAP_ENV}), e.g. "
        "127.0.0.1:9094 for docker compose; default: the embedded stack's",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(title="commands")

    letters = commands.add_parser("dead-letters", help="list, inspect and replay dead letters")
    letter_cmds = letters.add_subparsers(title="dead-letter commands", required=True)
    listing = letter_cmds.add_parser("list", help="every dead letter with its status")
    listing.add_argument("--service", action="append", default=[], help="consuming service")
    listing.add_argument("--open", action="store_true", help="only those not replayed")
    listing.set_defaults(run=_list)
    inspect = letter_cmds.add_parser("inspect", help="one dead letter's metadata (no values)")
    inspect.add_argument("location", help="topic:partition:offset, as `list` shows it")
    inspect.set_defaults(run=_inspect)
    replay = letter_cmds.add_parser("replay", help="republish to the source topic")
    chosen = replay.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--location", action="append", help="topic:partition:offset")
    chosen.add_argument("--all-open", metavar="SERVICE", help="every open letter of a service")
    replay.set_defaults(run=_replay)

    outbox = commands.add_parser("outbox", help="outbox backlog per service")
    _signer_options(outbox)
    outbox.add_argument(
        "--service", action="append", default=[], metavar="NAME[=URL]", help="default: all"
    )
    outbox.set_defaults(run=_outbox)

    lag = commands.add_parser("lag", help="consumer lag per group and topic")
    lag.add_argument("--group", action="append", required=True, help="consumer group")
    lag.add_argument("--topic", action="append", default=[], help="default: every event topic")
    lag.add_argument("--all", action="store_true", help="also topics the group never committed")
    lag.set_defaults(run=_lag)

    hooks = commands.add_parser("webhooks", help="re-send partner webhooks (admin token)")
    hook_cmds = hooks.add_subparsers(title="webhook commands", required=True)
    resend = hook_cmds.add_parser("resend", help="send one message again now")
    resend.add_argument("endpoint_id")
    resend.add_argument("message_id")
    resend.set_defaults(run=_resend)
    recover = hook_cmds.add_parser("recover", help="queue every failed message since a time")
    recover.add_argument("endpoint_id")
    recover.add_argument("--since", required=True, type=datetime.fromisoformat)
    recover.set_defaults(run=_recover)
    for sub in (resend, recover):
        _signer_options(sub)
        sub.add_argument("--url", help="notifications' URL (default: the stack's)")
    return parser


def _signer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--signing-key-file", help="gateway signing key (or the env variable)")
    parser.add_argument("--user", help="your operator id, a UUID (or $ALAMAL_OPS_USER)")


def _signer(args: argparse.Namespace) -> Signer:
    return Signer.load(args.target.signing_key_file(args.signing_key_file), args.user)


def _bar(args: argparse.Namespace, console: Console) -> AbstractContextManager[Any]:
    if args.no_progress:
        return nullcontext(None)
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _updater(bar: Progress | None, label: str) -> Callable[[int, int], None] | None:
    if bar is None:
        return None
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update


async def _load(
    args: argparse.Namespace, console: Console, services: list[str]
) -> list[dl.DeadLetterView]:
    bootstrap = args.target.bootstrap()
    topics = await dl.dead_letter_topics(bootstrap, services)
    with _bar(args, console) as bar:
        return await dl.list_dead_letters(
            bootstrap, topics, progress=_updater(bar, "reading dead letters")
        )


async def _list(args: argparse.Namespace, console: Console) -> int:
    letters = await _load(args, console, args.service)
    if args.open:
        letters = [v for v in letters if v.status == "open"]
    table = Table("location", "source", "consumer", "reason", "event type", "event id", "status")
    for v in letters:
        source = f"{v.source_topic}:{v.source_partition}:{v.source_offset}"
        status = v.status if not v.failed_again_as else f"failed again -> {v.failed_again_as}"
        table.add_row(
            v.location, source, v.consumer, v.reason_code, v.event_type, v.event_id, status
        )
    console.print(table)
    console.print(f"{len(letters)} dead letters, {sum(v.status == 'open' for v in letters)} open")
    return 0


async def _find(args: argparse.Namespace, console: Console, location: str) -> dl.DeadLetterView:
    topic = location.rsplit(":", 2)[0]
    for v in await _load(args, console, [topic.removesuffix(dl.DEAD_LETTER_SUFFIX)]):
        if v.location == location:
            return v
    raise OpsError(f"no dead letter at {location}")


async def _inspect(args: argparse.Namespace, console: Console) -> int:
    v = await _find(args, console, args.location)
    table = Table("field", "value", show_header=False)
    rows = {
        "location": v.location,
        "source": f"{v.source_topic} partition {v.source_partition} offset {v.source_offset}",
        "consumer": v.consumer,
        "reason code": v.reason_code,
        "error type": v.error_type or "-",
        "failed at": v.failed_at,
        "event type": v.event_type,
        "event id": v.event_id,
        "replay of": v.replay_of or "-",
        "status": v.status,
        "replayed at": v.replayed_at or "-",
        "failed again as": v.failed_again_as or "-",
        "value size": f"{v.value_bytes} bytes (not shown: may hold personal data)",
        "header names": ", ".join(v.header_names),
    }
    for name, value in rows.items():
        table.add_row(name, value)
    console.print(table)
    return 0


async def _replay(args: argparse.Namespace, console: Console) -> int:
    if args.all_open:
        chosen = [v for v in await _load(args, console, [args.all_open]) if v.status == "open"]
    else:
        chosen = [await _find(args, console, loc) for loc in args.location]
    with _bar(args, console) as bar:
        done = await dl.replay(args.target.bootstrap(), chosen, progress=_updater(bar, "replaying"))
    for letter, republished in done:
        console.print(f"replayed {letter.location} -> {republished}")
    console.print(f"{len(done)} replayed")
    return 0


async def _outbox(args: argparse.Namespace, console: Console) -> int:
    signer = _signer(args)
    urls: dict[str, str] = {}
    for item in args.service:
        name, _, url = item.partition("=")
        urls[name] = url or args.target.url(name)
    urls = urls or args.target.urls()
    backlog = await outbox_backlog(signer, urls)
    table = Table("service", "outbox backlog")
    for service, value in backlog.items():
        table.add_row(service, str(value))
    console.print(table)
    return 0 if all(isinstance(v, int) for v in backlog.values()) else 1


async def _lag(args: argparse.Namespace, console: Console) -> int:
    topics = args.topic or [
        t
        for t in await list_topics(args.target.bootstrap())
        if not t.startswith("__")
        and not t.endswith(dl.DEAD_LETTER_SUFFIX)
        and t != dl.REPLAYS_TOPIC
    ]
    table = Table("group", "topic", "partition", "end offset", "committed", "lag")
    total = 0
    for group in args.group:
        for part in await consumer_lag(args.target.bootstrap(), group, topics):
            if part.committed is None and not args.all:
                continue
            committed = "-" if part.committed is None else str(part.committed)
            total += part.lag
            table.add_row(
                group,
                part.topic,
                str(part.partition),
                str(part.end_offset),
                committed,
                str(part.lag),
            )
    console.print(table)
    console.print(f"total lag: {total}")
    return 0


async def _resend(args: argparse.Namespace, console: Console) -> int:
    signer = _signer(args)
    url = args.url or args.target.url("notifications")
    body = await resend_webhook(signer, url, args.endpoint_id, args.message_id)
    console.print(f"message {body.get('id')} queued again: state {body.get('state')}")
    return 0


async def _recover(args: argparse.Namespace, console: Console) -> int:
    if args.since.tzinfo is None:
        raise OpsError("--since needs a time zone, e.g. 2026-01-31T08:00:00+01:00")
    signer = _signer(args)
    url = args.url or args.target.url("notifications")
    body = await recover_webhooks(signer, url, args.endpoint_id, args.since)
    console.print(f"{body.get('requeued')} failed messages queued again")
    return 0
