"""The operator command line (`alamal-ops`, or `python -m alamal_ops`).

Shows ids, codes, counts and offsets only: never payload values or personal data. Finds the
embedded stack through its state file (`./data/stack.json`); every failure is one line that
says what to do, never a traceback (unless `--debug`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from alamal_ops import backup as bk
from alamal_ops import dead_letters as dl
from alamal_ops import keys as keys_ops
from alamal_ops.kafka_io import list_topics
from alamal_ops.services_api import (
    OpsError,
    Signer,
    outbox_backlog,
    recover_webhooks,
    resend_webhook,
)
from alamal_ops.target import BOOTSTRAP_ENV, DATA_DIR_ENV, Target
from alamal_runtime.crypto import KeyringError, ensure_keyring_file, read_keyring
from alamal_runtime.metrics import consumer_lag

DEAD_LETTER_SUFFIX = ".dead-letter.v1"
BACKUP_KEY_ENV = "ALAMAL_BACKUP_KEY_FILE"

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
    if isinstance(exc, OpsError | bk.BackupRefusedError | KeyringError):
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

    letters = commands.add_parser(
        "dead-letters", help="list, inspect, replay and resolve dead letters (operator token)"
    )
    letter_cmds = letters.add_subparsers(title="dead-letter commands", required=True)
    listing = letter_cmds.add_parser("list", help="every service's dead letters and their state")
    listing.add_argument("--service", action="append", default=[], help="only these services")
    chosen_state = listing.add_mutually_exclusive_group()
    chosen_state.add_argument("--state", choices=dl.STATES, help="only letters in this state")
    chosen_state.add_argument("--open", action="store_true", help="only open letters")
    listing.set_defaults(run=_list)
    inspect = letter_cmds.add_parser("inspect", help="one dead letter (no values)")
    inspect.add_argument("name", help="consumer:topic:partition:offset, as `list` shows it")
    inspect.set_defaults(run=_inspect)
    replay = letter_cmds.add_parser("replay", help="publish to the source topic again")
    chosen = replay.add_mutually_exclusive_group(required=True)
    chosen.add_argument("name", nargs="*", default=[], help="letters, as `list` shows them")
    chosen.add_argument("--all-open", metavar="SERVICE", help="every open letter of a service")
    replay.set_defaults(run=_replay)
    resolve = letter_cmds.add_parser("resolve", help="close letters that will never succeed")
    resolve.add_argument("name", nargs="+", help="letters, as `list` shows them")
    resolve.add_argument("--reason", required=True, choices=dl.RESOLVE_REASONS, help="why")
    resolve.set_defaults(run=_resolve)
    for sub in (listing, inspect, replay, resolve):
        _signer_options(sub)

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

    _backup_commands(commands)
    _key_commands(commands)

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


def _backup_commands(commands: Any) -> None:
    key_help = f"the backup keyring file (default ${BACKUP_KEY_ENV}); keep it apart from backups"
    take = commands.add_parser("backup", help="encrypted online backup of every SQLite store")
    take.add_argument("--out", type=Path, required=True, help="folder to put the backup set in")
    take.add_argument("--key-file", type=Path, help=key_help + " (created if missing)")
    take.set_defaults(run=_backup)
    verify = commands.add_parser("verify-backup", help="check a backup set; writes nothing")
    verify.add_argument("backup", type=Path, help="the backup set's folder")
    verify.add_argument("--key-file", type=Path, help=key_help)
    verify.set_defaults(run=_verify_backup)
    restore = commands.add_parser("restore", help="restore the stores from a backup set")
    restore.add_argument("backup", type=Path, help="the backup set's folder")
    restore.add_argument("--key-file", type=Path, help=key_help)
    restore.add_argument(
        "--replace", action="store_true", help="restore over existing stores (kept aside)"
    )
    restore.set_defaults(run=_restore)


def _key_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="key-encryption key rotation (operator token)")
    key_cmds = keys.add_subparsers(title="key commands", required=True)
    new = key_cmds.add_parser("new-kek", help="put a new KEK first in a keyring file")
    new.add_argument("--keyring", type=Path, required=True, help="the service's KEK file")
    new.set_defaults(run=_new_kek)
    for name, run, text in (
        ("status", _key_status, "keyring ids and data keys per KEK"),
        ("rotate", _rotate, "re-read the keyring and re-wrap every key under its first KEK"),
    ):
        sub = key_cmds.add_parser(name, help=text)
        sub.add_argument("--service", required=True, metavar="NAME[=URL]")
        _signer_options(sub)
        sub.set_defaults(run=run)
    retire = key_cmds.add_parser("retire-kek", help="drop an old KEK nothing is wrapped under")
    retire.add_argument("--keyring", type=Path, required=True, help="the service's KEK file")
    retire.add_argument("--kek-id", required=True, help="the id `keys status` shows")
    retire.add_argument("--service", required=True, metavar="NAME[=URL]")
    _signer_options(retire)
    retire.set_defaults(run=_retire_kek)


def _service_url(args: argparse.Namespace) -> tuple[str, str]:
    name, _, url = str(args.service).partition("=")
    return name, url or args.target.url(name)


def _key_table(console: Console, body: dict[str, object]) -> None:
    table = Table("key-encryption key", "data keys wrapped", "")
    counts = body.get("data_keys_by_kek")
    ring = body.get("keyring")
    for kek in ring if isinstance(ring, list) else []:
        n = counts.get(kek, 0) if isinstance(counts, dict) else "?"
        table.add_row(str(kek), str(n), "current" if kek == body.get("primary_kek") else "")
    console.print(table)


async def _new_kek(args: argparse.Namespace, console: Console) -> int:
    ring = await asyncio.to_thread(keys_ops.add_kek, args.keyring)
    console.print(
        f"new KEK {ring.primary_id} first in {args.keyring}; kept: {', '.join(ring.ids[1:]) or '-'}"
    )
    console.print("next: alamal-ops keys rotate --service <name>")
    return 0


async def _key_status(args: argparse.Namespace, console: Console) -> int:
    name, url = _service_url(args)
    signer = _signer(args)
    _key_table(console, await keys_ops.key_status(signer, name, url))
    return 0


async def _rotate(args: argparse.Namespace, console: Console) -> int:
    name, url = _service_url(args)
    signer = _signer(args)
    body = await keys_ops.rotate(signer, name, url)
    _key_table(console, body)
    console.print(f"{name}: re-wrapped {body.get('rewrapped')}")
    return 0


async def _retire_kek(args: argparse.Namespace, console: Console) -> int:
    name, url = _service_url(args)
    signer = _signer(args)
    body = await keys_ops.retire_kek(signer, name, url, args.keyring, args.kek_id)
    _key_table(console, body)
    console.print(f"{args.kek_id} retired from {args.keyring}")
    return 0


def _backup_key_file(args: argparse.Namespace) -> Path:
    chosen = args.key_file or os.environ.get(BACKUP_KEY_ENV)
    if not chosen:
        raise OpsError(f"name the backup key with --key-file or ${BACKUP_KEY_ENV}")
    return Path(chosen)


async def _backup(args: argparse.Namespace, console: Console) -> int:
    key_file = _backup_key_file(args)
    if not key_file.exists():
        console.print(f"new backup key written to {key_file}: keep a copy apart from the backups")
    keyring = await asyncio.to_thread(ensure_keyring_file, key_file)
    stores = await asyncio.to_thread(bk.discover_stores, args.target.data_dir)
    target, manifest = await asyncio.to_thread(bk.take_backup, stores, args.out, keyring)
    table = Table("service", "snapshot taken at", "store bytes", "backup bytes", "sha256")
    for entry in manifest.stores:
        table.add_row(
            entry.service,
            entry.taken_at,
            str(entry.plain_bytes),
            str(entry.encrypted_bytes),
            entry.sha256[:16],
        )
    console.print(table)
    console.print(f"backup set {target}: {manifest.total_bytes} bytes, key {manifest.key_id}")
    return 0


async def _verify_backup(args: argparse.Namespace, console: Console) -> int:
    keyring = read_keyring(_backup_key_file(args), source="backup key file")
    images = await asyncio.to_thread(bk.verify_backup, args.backup, keyring)
    console.print(f"backup set intact: {', '.join(images)}")
    return 0


async def _restore(args: argparse.Namespace, console: Console) -> int:
    keyring = read_keyring(_backup_key_file(args), source="backup key file")
    kept = await asyncio.to_thread(
        bk.restore_backup, args.backup, args.target.data_dir, keyring, replace=args.replace
    )
    for service, path in kept.items():
        console.print(f"{service}: the previous store is kept as {path}")
    console.print(
        f"restored from {args.backup}; start the stack: every service re-publishes its outbox"
    )
    return 0


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


def _urls(args: argparse.Namespace, only: list[str] | None = None) -> dict[str, str]:
    urls: dict[str, str] = args.target.urls()
    if only:
        unknown = sorted(set(only) - set(urls))
        if unknown:
            raise OpsError(f"unknown service(s) {', '.join(unknown)} (known: {', '.join(urls)})")
        urls = {name: url for name, url in urls.items() if name in only}
    return urls


def _state_text(letter: dict[str, Any]) -> str:
    state = str(letter.get("state", "open"))
    if state == "failed-again" and letter.get("failed_again_as"):
        return f"failed again -> {letter['failed_again_as']}"
    if state == "resolved" and letter.get("resolution"):
        return f"resolved ({letter['resolution']})"
    return state


async def _list(args: argparse.Namespace, console: Console) -> int:
    state = "open" if args.open else args.state
    found = await dl.list_letters(_signer(args), _urls(args, args.service), state=state)
    table = Table("name", "reason", "error", "event type", "event id", "when", "state")
    for letter in found.letters:
        table.add_row(
            str(letter["name"]),
            str(letter["reason"]),
            str(letter.get("error_type") or "-"),
            str(letter.get("event_type") or "-"),
            str(letter.get("event_id") or "-"),
            str(letter["at"])[:19],
            _state_text(letter),
        )
    console.print(table)
    opened = sum(letter.get("state") == "open" for letter in found.letters)
    console.print(f"{len(found.letters)} dead letters, {opened} open")
    for service, why in found.unreachable.items():
        console.print(f"[red]{service}: {why}[/red]")
    return 1 if found.unreachable else 0


async def _inspect(args: argparse.Namespace, console: Console) -> int:
    letter = await dl.get_letter(_signer(args), args.target.urls(), args.name)
    table = Table("field", "value", show_header=False)
    shown = {
        "name": letter["name"],
        "consumer": letter["consumer"],
        "source": f"{letter['topic']} partition {letter['partition']} offset {letter['offset']}",
        "reason code": letter["reason"],
        "error type": letter.get("error_type") or "-",
        "failed at": letter["at"],
        "event type": letter.get("event_type") or "-",
        "event id": letter.get("event_id") or "-",
        "family": letter.get("family_id") or "-",
        "state": _state_text(letter),
        "replay of": letter.get("replay_of") or "-",
        "replayed": _who(letter.get("replayed_at"), letter.get("replayed_by")),
        "republished as": letter.get("republished_as") or "-",
        "resolved": _who(letter.get("resolved_at"), letter.get("resolved_by")),
        "dead-letter record": _position(letter),
        "value size": f"{letter.get('value_bytes')} bytes (not shown: may hold personal data)",
        "header names": ", ".join(letter.get("header_names") or []),
    }
    for name, value in shown.items():
        table.add_row(name, str(value))
    console.print(table)
    return 0


def _who(at: object, by: object) -> str:
    return f"{at} by {by}" if at else "-"


def _position(letter: dict[str, Any]) -> str:
    if letter.get("dead_letter_topic") is None:
        return "-"
    return (
        f"{letter['dead_letter_topic']}:{letter['dead_letter_partition']}:"
        f"{letter['dead_letter_offset']}"
    )


async def _replay(args: argparse.Namespace, console: Console) -> int:
    signer, urls = _signer(args), args.target.urls()
    names: list[str] = list(args.name)
    if args.all_open:
        found = await dl.list_letters(signer, _urls(args, [args.all_open]), state="open")
        names = [str(letter["name"]) for letter in found.letters]
    for name in names:
        done = await dl.replay(signer, urls, name)
        console.print(f"replayed {name} -> {done.get('republished_as')}")
    console.print(f"{len(names)} replayed")
    return 0


async def _resolve(args: argparse.Namespace, console: Console) -> int:
    signer, urls = _signer(args), args.target.urls()
    for name in args.name:
        await dl.resolve(signer, urls, name, args.reason)
        console.print(f"resolved {name} ({args.reason})")
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
        and not t.endswith(DEAD_LETTER_SUFFIX)
        and not t.startswith("alamal-ops.")
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
