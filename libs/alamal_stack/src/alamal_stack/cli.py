"""`python -m alamal_stack run`: start the embedded stack, print its URLs, supervise, stop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import textwrap
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import structlog

from alamal_stack.follow import follow_logs
from alamal_stack.processes import StackError
from alamal_stack.runner import STORE_BACKENDS, EmbeddedStack
from alamal_stack.services import SERVICES, ServiceSpec, select_services

log = structlog.get_logger(__name__)

# SIGHUP too: closing the terminal must stop the stack in order, not orphan its processes.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
MAX_REPLICAS = 8


async def serve(stack: EmbeddedStack, *, follow: bool = False, out: TextIO = sys.stdout) -> int:
    """Run `stack` until SIGINT/SIGTERM/SIGHUP (exit 0) or a process keeps crashing (exit 1).

    Stopping drains (see `EmbeddedStack`); a second Ctrl-C does not cut it short, the services'
    drain time bounds it.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    starting = asyncio.create_task(stack.start())
    stopping = asyncio.create_task(stop.wait())
    failing = asyncio.create_task(stack.failed.wait())
    follower: asyncio.Task[None] | None = None
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # interrupted during start-up: start() cleans up after itself
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, StackError):
                await starting
            return 0
        if (error := starting.exception()) is not None:
            log.error("stack.failed", details=str(error))
            return 1
        out.write(banner(stack))
        out.flush()
        if follow:
            paths = {"tansu": stack.logs_dir / "tansu.log"}
            paths |= {name: svc.log_path for name, svc in stack.services.items()}
            follower = asyncio.create_task(follow_logs(paths, out))
        await asyncio.wait({stopping, failing}, return_when=asyncio.FIRST_COMPLETED)
        log.info("stack.stopping", reason=stack.failure or "signal")
        await stack.stop()
        log.info("stack.stopped")
        return 1 if stack.failed.is_set() else 0
    finally:
        for task in (stopping, failing, follower):
            if task is not None:
                task.cancel()
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


def banner(stack: EmbeddedStack) -> str:
    """The human summary printed once the stack is ready."""
    width = max([len(name) for name in stack.urls] + [5])
    lines = [f"\nAl Amal embedded stack is up in {stack.startup_seconds or 0:.1f}s\n"]
    for name, url in stack.urls.items():
        lines.append(f"  {name:<{width}}  {url}   docs: {url}/docs")
    lines += [
        f"  {'kafka':<{width}}  {stack.bootstrap}   (Tansu, in memory; the services' outboxes "
        "refill it after a restart)",
        f"  {'data':<{width}}  {_shown(stack.data_dir)}   logs: {_shown(stack.logs_dir)}",
        f"  {'store':<{width}}  {_store_line(stack)}",
        f"  {'token':<{width}}  python -m alamal_runtime.devtoken "
        f"--key {_shown(stack.keys.signing)} --help",
        f"  {'ops':<{width}}  alamal-ops dead-letters list   (finds this stack through "
        f"{_shown(stack.state_file)})",
    ]
    if stack.trace_ui is not None:
        rss = stack.trace_ui.rss_bytes()
        lines.append(
            f"  {'traces':<{width}}  {stack.trace_ui.url}   (Arize Phoenix, Elastic License 2.0;"
            f" ready in {stack.trace_ui.startup_seconds or 0:.0f}s"
            + (f", {rss / 2**20:.0f} MiB" if rss else "")
            + ")"
        )
    if "gateway" in stack.urls:
        demo = stack.data_dir / "gateway" / "demo-users.txt"
        lines.append(
            f"\n  Staff web UI: {stack.urls['gateway']}/login"
            + (f"   demo users and passwords: {_shown(demo)}" if demo.exists() else "")
        )
    if stack.replica_count > 1:
        lines.append(f"\n  {stack.replica_count} replicas of every service share its URL.")
    lines.append("\nCtrl-C stops everything (it drains first: give it a few seconds).\n")
    return "\n".join(lines) + "\n"


def _store_line(stack: EmbeddedStack) -> str:
    if stack.store == "sqlite":
        return "SQLite, a file per service in the data folder"
    if stack.mongodb_url is not None:
        return "MongoDB, a database per service (alamal_<service>) on the given server"
    return "MongoDB wire protocol: a mongoeco server per service (in memory: lost at stop)"


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def parse_args(argv: Sequence[str] | None, registry: Sequence[ServiceSpec]) -> argparse.Namespace:
    """Parse the command line (only the `run` command exists)."""
    parser = argparse.ArgumentParser(prog="python -m alamal_stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the embedded stack and supervise it")
    run.add_argument("--data-dir", type=Path, default=Path("data"), help="default: ./data")
    run.add_argument("--kafka-port", type=int, default=None, help="default: a free port")
    run.add_argument(
        "--base-port", type=int, default=None, help="first service port (default 8100; 0: free)"
    )
    run.add_argument(
        "--only",
        default=None,
        help="comma-separated services (default: all): " + ",".join(s.name for s in registry),
    )
    run.add_argument(
        "--store",
        choices=STORE_BACKENDS,
        default=None,
        help="the services' store backend (default sqlite: a file per service under the data"
        " folder; mongodb: a database per service, on --mongodb-url or else on a mongoeco"
        " server per service, in memory)",
    )
    run.add_argument(
        "--mongodb-url",
        default=None,
        metavar="URL",
        help="a MongoDB replica set for --store mongodb, e.g. mongodb://host/?replicaSet=rs0"
        " (each service uses its own database alamal_<service>)",
    )
    run.add_argument("--partitions", type=int, default=3, help="partitions per topic")
    run.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="processes per service, sharing its port and store (default 1): one relays its"
        " outbox and each webhook endpoint is served by one, under leases in the store",
    )
    run.add_argument("--follow", action="store_true", help="echo service logs here too")
    run.add_argument(
        "--ready-timeout",
        type=float,
        default=60.0,
        help="seconds a service may take to become ready (default 60)",
    )
    run.add_argument(
        "--traces",
        action="store_true",
        help="also start a trace UI (Arize Phoenix, installed on first use into "
        "tools/trace-ui/.venv) that every service exports its spans to",
    )
    run.add_argument(
        "--demo",
        action="store_true",
        help="create demo staff users at the gateway (passwords in <data>/gateway/demo-users.txt)",
    )
    args = parser.parse_args(argv)
    if args.store is None:
        args.store = "mongodb" if args.mongodb_url else "sqlite"
    if args.mongodb_url and args.store != "mongodb":
        parser.error("--mongodb-url needs --store mongodb")
    try:
        args.services = select_services(
            None if args.only is None else args.only.split(","), registry
        )
    except ValueError as exc:
        parser.error(str(exc))
    if not 1 <= args.replicas <= MAX_REPLICAS:
        parser.error(f"--replicas must be between 1 and {MAX_REPLICAS}")
    return args


def configure_logging() -> None:
    """Readable key=value logs on stderr for the runner itself."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    console = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())

    def render(logger: object, name: str, event: MutableMapping[str, Any]) -> str:
        # Multi-line `details` (log tails, start-up errors) print as text under the line.
        details = event.pop("details", None)
        line = str(console(logger, name, event))
        return line if details is None else line + "\n" + textwrap.indent(str(details), "    | ")

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            render,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )


def main(argv: Sequence[str] | None = None, registry: Sequence[ServiceSpec] = SERVICES) -> int:
    """Entry point of `python -m alamal_stack`."""
    args = parse_args(argv, registry)
    configure_logging()
    stack = EmbeddedStack(
        args.data_dir,
        services=args.services,
        kafka_port=args.kafka_port,
        base_port=args.base_port,
        partitions=args.partitions,
        replicas=args.replicas,
        ready_timeout=args.ready_timeout,
        supervise=True,
        extra_env={"GATEWAY_DEMO_USERS": "1"} if args.demo else None,
        store=args.store,
        mongodb_url=args.mongodb_url,
        trace_ui=args.traces,
    )
    return asyncio.run(serve(stack, follow=args.follow))
