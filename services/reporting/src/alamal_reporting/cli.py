"""Command line: `python -m alamal_reporting` serves; `... rebuild` rebuilds the projection from
the topics when they hold its whole history; `... reconcile [--check]` compares the projection
with the topics and repairs what it lacks (`--check`: only report, exit 1 if it lacks any)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from alamal_reporting.app import create_app
from alamal_reporting.rebuild import IncompleteSourceError, rebuild
from alamal_reporting.reconcile import ReconcileResult, reconcile
from alamal_reporting.settings import ReportingSettings
from alamal_runtime.logging import configure_logging
from alamal_runtime.main import serve
from alamal_runtime.store import Store, create_store

USAGE = "usage: python -m alamal_reporting [rebuild | reconcile [--check]]"


def _open_projection(settings: ReportingSettings) -> Store:
    return create_store(settings.store_url.get_secret_value(), default_database="alamal_reporting")


def _bar(console: Console) -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


async def _rebuild(settings: ReportingSettings, console: Console) -> int:
    projection = _open_projection(settings)
    await projection.open()
    try:
        with _bar(console) as bar:
            task = bar.add_task("replaying events", total=None)
            result = await rebuild(
                projection,
                settings.kafka_bootstrap,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except IncompleteSourceError as exc:
        console.print(f"refused: {exc}")
        return 1
    finally:
        await projection.close()
    console.print(
        f"rebuilt: {result.events} events projected, {result.skipped} invalid records skipped,"
        f" {result.dropped} stored entities dropped first"
    )
    return 0


async def _reconcile(settings: ReportingSettings, console: Console, *, repair: bool) -> int:
    projection = _open_projection(settings)
    await projection.open()
    try:
        with _bar(console) as bar:
            task = bar.add_task("reading the topics", total=None)
            result = await reconcile(
                projection,
                settings.kafka_bootstrap,
                repair=repair,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    finally:
        await projection.close()
    console.print(_summary(result))
    return 0 if result.consistent or result.repaired else 1


def _summary(result: ReconcileResult) -> str:
    lines = [
        f"source: {result.source_events} events",
        f"events the projection had not merged: {result.unmerged_events}",
        f"entities lacking part of the source's facts: {result.differing_entities}",
        f"entities with no event in the source (kept): {result.only_here}",
    ]
    if result.not_in_source:
        listed = ", ".join(f"{t}: {n}" for t, n in sorted(result.not_in_source.items()))
        lines.append(f"events merged here that the source lacks (not checked): {listed}")
    if result.consistent:
        lines.append("consistent: nothing to repair")
    else:
        lines.append("repaired" if result.repaired else "differences found (--check: not repaired)")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    """Serve (no arguments) or rebuild the projection (`rebuild`)."""
    if not argv:
        serve(ReportingSettings, create_app)
        return 0
    command = list(argv)
    if command in (["rebuild"], ["reconcile"], ["reconcile", "--check"]):
        settings = ReportingSettings()
        configure_logging(settings.service_name, settings.log_level)
        console = Console(stderr=True)
        if command == ["rebuild"]:
            return asyncio.run(_rebuild(settings, console))
        return asyncio.run(_reconcile(settings, console, repair="--check" not in command))
    print(USAGE, file=sys.stderr)  # noqa: T201 - command-line usage
    return 2
