"""Find planted personal values in files: what tests use to prove data is not stored in clear.

A value is looked for in every form it could take in a file: UTF-8, JSON's ASCII escapes
(`\\u00d6`, as the stores' JSON may write it) and UTF-16 (little endian).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path


def forms(value: str) -> list[bytes]:
    """The byte forms `value` could take in a file."""
    escaped = json.dumps(value)[1:-1]
    return [value.encode(), escaped.encode(), value.encode("utf-16-le")]


def hits_in(content: bytes, values: Iterable[str]) -> list[str]:
    """The values found in `content`, in any of their forms."""
    return [v for v in values if any(form in content for form in forms(v))]


def hits_in_files(paths: Iterable[Path], values: Iterable[str]) -> dict[str, list[str]]:
    """The values found per file (by path), for files holding any."""
    wanted = list(values)
    found: dict[str, list[str]] = {}
    for path in sorted(paths):
        if path.is_file() and (hits := hits_in(path.read_bytes(), wanted)):
            found[str(path)] = hits
    return found


def hits_under(folder: Path, values: Iterable[str], *, pattern: str = "*") -> dict[str, list[str]]:
    """The values found in any file under `folder` whose name matches `pattern`."""
    return hits_in_files(folder.rglob(pattern), values)
