"""Spans without personal data, by construction: every span is redacted before an exporter.

What the instrumentations put in a span is not ours to choose: the ASGI server span carries the
request URL with its query string (`GET /families?name=...` puts a family's name in `http.url`),
exception events carry the exception's message, and a path can hold anything a caller typed.
`SpanRedactor` rewrites a finished span so that it keeps only what an operator needs and may see:

- URLs and paths (old and new semantic conventions: `http.url`, `http.target`, `url.full`,
  `url.path`, `url.original`, `url.query`) keep scheme, host and route. A path segment survives
  only where it is an id (a UUID, a short number, a prefixed hex id) or a word of the service's
  own route templates; anything else becomes `{name}` where the route template names it,
  `{redacted}` where it does not. In a query string, a parameter the service declares keeps its
  name and, if it is an id, its value (`family_id=<uuid>`, `name=[redacted]`); any other
  parameter is dropped and the query ends in `[redacted]`.
- Captured headers and the peer's address are dropped (headers carry cookies and tokens).
- Exception events keep the exception's type and where it was raised (`file:line:function`),
  never its message; a status description keeps only an exception type name.
- Any other attribute on the span is kept: span attributes that code of ours sets are ids and
  codes only (see `tag_ids`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Status
from opentelemetry.util.types import AttributeValue

REDACTED = "[redacted]"
REDACTED_SEGMENT = "{redacted}"

FULL_URL_KEYS = frozenset({"http.url", "url.full", "url.original"})
"""Attributes holding a whole URL (old and new HTTP semantic conventions)."""
TARGET_KEYS = frozenset({"http.target"})
"""Attributes holding a path with its query string."""
PATH_KEYS = frozenset({"url.path"})
QUERY_KEYS = frozenset({"url.query", "http.query"})
DROPPED_KEYS = frozenset(
    {
        "client.address",
        "client.port",
        "net.peer.ip",
        "net.peer.port",
        "net.sock.peer.addr",
        "net.sock.peer.port",
        "network.peer.address",
        "network.peer.port",
        "http.client_ip",
        "exception.message",
    }
)
DROPPED_PREFIXES = ("http.request.header.", "http.response.header.")
ID_KEYS = frozenset({"messaging.kafka.message.key", "messaging.message.id", "enduser.id"})
"""Attributes whose value must be an id; anything else in them is redacted."""

_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-f]{32}"  # a UUID or trace id without dashes
    r"|[a-z]{2,10}_[0-9a-f]{16,64}"  # prefixed ids: msg_<hex>, pc_<hex>
    r"|[0-9]{1,6}"  # partitions, offsets, years; longer digit runs can be phone numbers
)
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}")
_WORD = re.compile(r"[a-z][a-z0-9-]{0,39}")
_FRAME = re.compile(r'^\s*File "(?:[^"]*/)?([^"/]+)", line (\d+), in (\S+)\s*$')
_TYPE_NAME = re.compile(
    r"(?:[a-z_][a-z0-9_]*\.)*[A-Z][A-Za-z0-9_]{0,80}"
    r"(?:Error|Exception|Exit|Interrupt|Warning|Timeout|Cancelled)"
)


def is_id(value: str) -> bool:
    """True for a value shaped like one of the platform's ids (never a name or a phone number)."""
    return _ID.fullmatch(value) is not None


def route_words(templates: Iterable[str]) -> frozenset[str]:
    """The literal words of route templates (`/cases/{case_id}/visits` -> cases, visits)."""
    words: set[str] = set()
    for template in templates:
        for segment in template.split("/"):
            for part in _PLACEHOLDER.split(segment):
                words.update(w for w in re.split(r"[.]", part) if _WORD.fullmatch(w))
    return frozenset(words)


class SpanRedactor:
    """Rewrites finished spans so that they carry no personal data (see the module docstring).

    `words` are the literal segments of the service's own routes and `params` the names of its
    query parameters; `learn` adds them once the app's routes are known (the telemetry is built
    before the app).
    """

    def __init__(self, words: Iterable[str] = (), params: Iterable[str] = ()) -> None:
        self.words: set[str] = set(words)
        self.params: set[str] = set(params)

    def learn(self, templates: Iterable[str], params: Iterable[str] = ()) -> None:
        """Allow the literal words of these route templates in paths, and these query names."""
        self.words |= route_words(templates)
        self.params |= {p for p in params if _WORD.fullmatch(p.replace("_", "-"))}

    def redact(self, span: ReadableSpan) -> ReadableSpan:
        """A copy of `span` without personal data."""
        attributes = dict(span.attributes or {})
        route = attributes.get("http.route")
        template = route if isinstance(route, str) else None
        return ReadableSpan(
            name=self._name(span.name, template),
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=self.attributes(attributes, template),
            events=[self._event(e) for e in span.events],
            links=span.links,
            kind=span.kind,
            status=_status(span.status),
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def attributes(
        self, attributes: Mapping[str, AttributeValue], template: str | None = None
    ) -> dict[str, AttributeValue]:
        """Redacted copies of span or event attributes."""
        out: dict[str, AttributeValue] = {}
        for key, value in attributes.items():
            if key in DROPPED_KEYS or key.startswith(DROPPED_PREFIXES):
                continue
            if key == "exception.stacktrace":
                out[key] = frames_only(str(value))
            elif key in FULL_URL_KEYS:
                out[key] = self.url(str(value), template)
            elif key in TARGET_KEYS:
                path, _, query = str(value).partition("?")
                out[key] = self.path(path, template) + ("?" + self.query(query) if query else "")
            elif key in PATH_KEYS:
                out[key] = self.path(str(value), template)
            elif key in QUERY_KEYS:
                out[key] = self.query(str(value))
            elif key in ID_KEYS:
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                out[key] = text if isinstance(text, str) and is_id(text) else REDACTED
            else:
                out[key] = value
        return out

    def url(self, url: str, template: str | None = None) -> str:
        """A URL without user info or query, its path redacted."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        path = self.path(parts.path, template)
        query = self.query(parts.query) if parts.query else ""
        return urlunsplit((parts.scheme, netloc, path, query, ""))

    def query(self, query: str) -> str:
        """Declared parameters with id values kept, every other value and name redacted."""
        kept: list[str] = []
        hidden = False
        for pair in query.split("&"):
            name, _, value = pair.partition("=")
            name, value = unquote_plus(name), unquote_plus(value)
            if name in self.params:
                kept.append(f"{name}={quote(value) if is_id(value) else REDACTED}")
            elif pair:
                hidden = True
        return "&".join([*kept, REDACTED] if hidden else kept)

    def path(self, path: str, template: str | None = None) -> str:
        """The path with every segment that is neither an id nor a known word redacted.

        With the route template the request matched, a parameter that is not an id shows as
        the template's `{name}`.
        """
        segments = path.split("/")
        shape = template.split("/") if template else None
        if shape is not None and len(shape) != len(segments):
            shape = None
        out: list[str] = []
        for index, segment in enumerate(segments):
            pattern = shape[index] if shape is not None else None
            if not segment or is_id(segment) or segment in self.words or segment == pattern:
                out.append(segment)
            elif pattern is not None and "{" in pattern:
                out.append(pattern)
            else:
                out.append(REDACTED_SEGMENT)
        return "/".join(out)

    def _name(self, name: str, template: str | None) -> str:
        tokens = name.split(" ")
        return " ".join(
            token if token == template or "/" not in token else self.path(token.split("?")[0])
            for token in tokens
        ).split("?")[0]

    def _event(self, event: Event) -> Event:
        return Event(
            name=event.name,
            attributes=self.attributes(event.attributes or {}),
            timestamp=event.timestamp,
        )


def frames_only(stacktrace: str) -> str:
    """A formatted traceback reduced to `file:line:function` lines (no messages, no values)."""
    frames = []
    for line in stacktrace.splitlines():
        if match := _FRAME.match(line):
            frames.append(f"{match.group(1)}:{match.group(2)}:{match.group(3)}")
    return "\n".join(frames)


def _status(status: Status) -> Status:
    description = status.description
    if not description:
        return status
    head = description.split(":", 1)[0].strip()
    return Status(status.status_code, head if _TYPE_NAME.fullmatch(head) else None)
