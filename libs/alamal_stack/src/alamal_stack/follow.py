"""`--follow`: echo the log files as they grow, each line prefixed with its process name."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO


async def follow_logs(paths: Mapping[str, Path], out: TextIO, interval: float = 0.2) -> None:
    """Echo new lines of every log in `paths` to `out` until cancelled."""
    width = max((len(name) for name in paths), default=0)
    offsets = dict.fromkeys(paths, 0)
    partial = dict.fromkeys(paths, b"")
    while True:
        for name, path in paths.items():
            chunk = _read_from(path, offsets[name])
            offsets[name] += len(chunk)
            *lines, partial[name] = (partial[name] + chunk).split(b"\n")
            for line in lines:
                out.write(f"{name:>{width}} | {line.decode('utf-8', errors='replace')}\n")
        out.flush()
        await asyncio.sleep(interval)


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read(256 * 1024)
    except FileNotFoundError:
        return b""
