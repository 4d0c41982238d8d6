"""Command line: `python -m alamal_reporting` serves; `... rebuild` rebuilds the projection."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from alamal_reporting.app import create_app
from alamal_reporting.rebuild import rebuild
from alamal_reporting.settings import ReportingSettings
from alamal_runtime.logging import configure_logging
from alamal_runtime.main import serve
from alamal_runtime.store import create_store

USAGE = "usage: python -m alamal_reporting [rebuild]"


async def _rebuild(settings: ReportingSettings, console: Console) -> None:
    projection = create_store(
        settings.store_url.get_secret_value(), default_database="alamal_reporting"
    )
    await projection.open()
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("replaying events", total=None)
            result = await rebuild(
                projection,
                settings.kafka_bootstrap,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    finally:
        await projection.close()
    console.print(
        f"rebuilt: {result.events} events projected, {result.skipped} invalid records skipped,"
        f" {result.dropped} stored entities dropped first"
    )


def main(argv: Sequence[str]) -> int:
    """Serve (no arguments) or rebuild the projection (`rebuild`)."""
    if not argv:
        serve(ReportingSettings, create_app)
        return 0
    if list(argv) == ["rebuild"]:
        settings = ReportingSettings()
        configure_logging(settings.service_name, settings.log_level)
        asyncio.run(_rebuild(settings, Console(stderr=True)))
        return 0
    print(USAGE, file=sys.stderr)  # noqa: T201 - command-line usage
    return 2
