"""A small Dockerfile parser and the rules every service image must keep."""

from __future__ import annotations

import re
from dataclasses import dataclass

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_SECRET = re.compile(
    r"(?i)((password|passwd|secret|token|api_?key|private_?key)[A-Z0-9_]*\s*[= ]\s*\S+"
    r"|-----BEGIN|whsec_)"
)
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction, continuation lines joined."""

    line: int
    keyword: str
    args: str


def parse(text: str) -> list[Instruction]:
    """Instructions in order; comments and blank lines dropped, `\\` continuations joined."""
    out: list[Instruction] = []
    buffer = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if buffer and line.startswith("#"):
            continue
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1].rstrip() + " "
            continue
        buffer += line
        keyword, _, args = buffer.partition(" ")
        out.append(Instruction(start, keyword.upper(), args.strip()))
        buffer = ""
    if buffer:
        keyword, _, args = buffer.partition(" ")
        out.append(Instruction(start, keyword.upper(), args.strip()))
    return out


def rule_errors(text: str, *, digest_pinned_images: tuple[str, ...] = ("python",)) -> list[str]:
    """Why the Dockerfile breaks the platform's image rules (empty when it keeps them)."""
    instructions = parse(text)
    errors: list[str] = []
    froms = [i for i in instructions if i.keyword == "FROM"]
    stage_names: set[str] = set()
    for instr in froms:
        parts = instr.args.split()
        if parts[0].lower() not in stage_names:  # a later stage may start from an earlier one
            errors += _pinned(instr.line, parts[0], digest_pinned_images)
        if len(parts) >= 3 and parts[1].upper() == "AS":
            stage_names.add(parts[2].lower())
    if len(froms) < 2:
        errors.append("not multi-stage: build and runtime must be separate stages")
    final = _final_stage(instructions)
    users = [i for i in final if i.keyword == "USER"]
    if not users:
        errors.append("the runtime stage sets no USER (it would run as root)")
    elif users[-1].args.split(":")[0] in ("root", "0"):
        errors.append(f"line {users[-1].line}: the runtime stage runs as root")
    checks = [i for i in final if i.keyword == "HEALTHCHECK"]
    if not checks or checks[-1].args.upper().startswith("NONE"):
        errors.append("no HEALTHCHECK in the runtime stage")
    elif "/health/live" not in checks[-1].args:
        errors.append(f"line {checks[-1].line}: HEALTHCHECK must call /health/live")
    for instr in instructions:
        if instr.keyword == "ADD" and any(_URL.match(arg) for arg in instr.args.split()):
            errors.append(f"line {instr.line}: ADD of a URL (download in a checked RUN step)")
        if instr.keyword in ("ENV", "ARG", "LABEL", "RUN") and _SECRET.search(instr.args):
            errors.append(f"line {instr.line}: {instr.keyword} looks like it holds a secret")
        if instr.keyword == "COPY":
            errors += _copy_from_pinned(instr, stage_names)
    return errors


def _pinned(line: int, image: str, digest_pinned: tuple[str, ...]) -> list[str]:
    if image.lower() == "scratch":
        return []
    name, _, tag = image.split("@", 1)[0].rpartition(":")
    if not name or "/" in tag or not re.search(r"\d", tag) or tag == "latest":
        return [f"line {line}: image {image} is not pinned to a version tag"]
    base = name.rsplit("/", 1)[-1]
    if base in digest_pinned and not _DIGEST.search(image):
        return [f"line {line}: image {image} must also be pinned by digest"]
    return []


def _copy_from_pinned(instr: Instruction, stages: set[str]) -> list[str]:
    match = re.search(r"--from=(\S+)", instr.args)
    if match is None or match.group(1).lower() in stages or match.group(1).isdigit():
        return []
    return _pinned(instr.line, match.group(1), ())


def _final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last = max((n for n, i in enumerate(instructions) if i.keyword == "FROM"), default=0)
    return instructions[last:]
