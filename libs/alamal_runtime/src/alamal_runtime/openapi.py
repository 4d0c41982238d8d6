"""Every route's OpenAPI lists every status it can answer, with the error body's schema.

Added once, for every service, by `document_errors(app)` (the runtime calls it in
`ServiceRuntime.create_app`), instead of per-route boilerplate:
- statuses every route of a kind can answer: 401 on routes behind a credential, 404 on routes
  with path parameters, 413 on routes with a body, 422 on routes with any parameter or body
  (our own 422 body, naming the fields), 500 and 503 everywhere;
- statuses a route raises itself: read from the code of the route, its dependencies and the
  functions of the same service or the runtime they call (`HTTPProblem(409, ...)`,
  `field_error(...)` is a 422, ...), so a new `raise HTTPProblem(428, ...)` is documented
  without anyone remembering to.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections.abc import Callable, Iterator
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any, Final, get_args, get_origin

from fastapi import FastAPI
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, Field, Strict

_RUNTIME: Final = "alamal_runtime"
_VALIDATION_HELPERS: Final = frozenset({"field_error", "cursor_error", "page_or_422"})
"""Runtime helpers whose call means the route can answer 422."""


class ErrorBody(BaseModel):
    """Every error but a validation error: a safe message, never personal data."""

    detail: str = Field(description="What went wrong, in words safe to show and log.")
    trace_id: str | None = Field(
        default=None, description="The request's trace id (500 and 503 only), for operators."
    )


class FieldProblem(BaseModel):
    """One invalid input."""

    loc: list[str | int] = Field(
        description="Where: `body`, `query`, `path` or `header`, then the field."
    )
    msg: str = Field(description="What is wrong with it (never its value).")
    type: str = Field(description="A machine-readable error code.")


class ValidationErrorBody(BaseModel):
    """A 422: every invalid input, and the fields named once each."""

    detail: list[FieldProblem]
    fields: list[str] = Field(
        description="The invalid fields, e.g. `partner_id` or `reason_codes.0`."
    )


def route_statuses(route: Any) -> set[int]:
    """Every error status a route (an `APIRoute` or FastAPI's `RouteContext` of one) can
    answer."""
    statuses = {500}
    if str(route.path_format).startswith("/health"):
        return statuses
    statuses.add(503)
    dependants = list(_dependants(route.dependant))
    if any(_secured(d) for d in dependants):
        statuses.add(401)
    if route.dependant.path_params:
        statuses.add(404)
    if route.body_field is not None:
        statuses |= {413, 422}
    if any(
        d.path_params or d.query_params or d.header_params or d.cookie_params for d in dependants
    ):
        statuses.add(422)
    for function in _functions(route):
        statuses |= _raised(function)
    return statuses


def api_routes(app: FastAPI) -> Iterator[RouteContext]:
    """The app's API routes as served (included routers resolved, with their full paths)."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def document_errors(app: FastAPI) -> None:
    """Add every route's error statuses, with the error body schemas, to its OpenAPI."""
    for context in api_routes(app):
        if not context.include_in_schema:
            continue
        original = context.original_route
        if not isinstance(original, APIRoute):
            continue
        served: dict[int | str, dict[str, Any]] = context.responses
        json_route = _media_type(context) in (None, "application/json")
        for status in sorted(route_statuses(context)):
            model = ValidationErrorBody if status == 422 else ErrorBody
            # Errors are JSON whatever the route answers on success (a CSV, a chart).
            ref = {"$ref": f"#/components/schemas/{model.__name__}"}
            entry = {
                "description": _describe(status),
                "content": {"application/json": {"schema": ref}},
            }
            for responses in (served, original.responses):
                if status not in responses and str(status) not in responses:
                    responses[status] = entry
            if json_route:  # so the schemas land in `components` (once, from a JSON route)
                field = _response_field(model, original, status)
                for fields in (context.response_fields, original.response_fields):
                    fields.setdefault(status, field)
    app.openapi_schema = None  # rebuilt on the next request, with the new responses


def _media_type(route: Any) -> str | None:
    response_class = route.response_class
    if isinstance(response_class, DefaultPlaceholder):
        response_class = response_class.value
    media: str | None = getattr(response_class, "media_type", None)
    return media


def _response_field(model: type[BaseModel], route: APIRoute, status: int) -> Any:
    from fastapi.utils import create_model_field

    return create_model_field(name=f"Response_{status}_{route.unique_id}", type_=model)


def _describe(status: int) -> str:
    return HTTPStatus(status).phrase


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _secured(dependant: Dependant) -> bool:
    return isinstance(dependant.call, SecurityBase)


def _functions(route: Any) -> Iterator[Callable[..., Any]]:
    yield route.endpoint
    for dependant in _dependants(route.dependant):
        if dependant.call is not None and inspect.isfunction(dependant.call):
            yield dependant.call


def _raised(function: Callable[..., Any]) -> set[int]:
    """Statuses raised in `function` and what it calls (same service or the runtime)."""
    return set(_scan(function))


@cache
def _scan(function: Callable[..., Any]) -> frozenset[int]:
    seen: set[Callable[..., Any]] = set()
    found: set[int] = set()
    _walk(function, seen, found)
    return frozenset(found)


def _walk(function: Callable[..., Any], seen: set[Callable[..., Any]], found: set[int]) -> None:
    function = inspect.unwrap(function)
    if function in seen or not inspect.isfunction(function):
        return
    seen.add(function)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return
    home = function.__module__.split(".", 1)[0]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        status = _literal_status(node)
        if status is not None and (name == "HTTPProblem" or _is_exception(node.func, function)):
            # HTTPProblem(409, ...), or a service's own refusal carrying a status to answer.
            found.add(status)
            continue
        if name in _VALIDATION_HELPERS:
            found.add(422)
        callee = _resolve(node.func, function.__globals__)
        if callee is not None and _ours(callee, home):
            _walk(callee, seen, found)


def _literal_status(call: ast.Call) -> int | None:
    candidates = [*call.args[:1], *(k.value for k in call.keywords if k.arg == "status_code")]
    for arg in candidates:
        if isinstance(arg, ast.Constant) and type(arg.value) is int and 400 <= arg.value < 600:
            return arg.value
    return None


def _is_exception(func: ast.expr, function: Callable[..., Any]) -> bool:
    target: Any = None
    if isinstance(func, ast.Name):
        target = function.__globals__.get(func.id)
    return isinstance(target, type) and issubclass(target, BaseException)


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _resolve(func: ast.expr, namespace: dict[str, Any]) -> Callable[..., Any] | None:
    target: Any = None
    if isinstance(func, ast.Name):
        target = namespace.get(func.id)
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        owner = namespace.get(func.value.id)
        if isinstance(owner, types.ModuleType):
            target = getattr(owner, func.attr, None)
    return target if inspect.isfunction(target) else None


def _ours(function: Callable[..., Any], home: str) -> bool:
    package = function.__module__.split(".", 1)[0]
    return package in (home, _RUNTIME)


class LaxNumberError(TypeError):
    """A request body takes a number that a JSON `true` would silently fill."""


def lax_numbers(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The fields of a request model (nested models too) typed `int` or `float` without
    `Strict()`: pydantic's lax mode turns a JSON `true` into 1 there."""
    found: list[str] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        strict = any(isinstance(m, Strict) and m.strict for m in info.metadata)
        found += _lax_in(info.annotation, path, strict=strict)
    return found


def _lax_in(annotation: Any, path: str, *, strict: bool) -> list[str]:
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        strict = strict or any(isinstance(m, Strict) and m.strict for m in extra)
        return _lax_in(base, path, strict=strict)
    if annotation in (int, float):
        return [] if strict else [path]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return lax_numbers(annotation, prefix=f"{path}.")
    found: list[str] = []
    for arg in get_args(annotation):
        found += _lax_in(arg, path, strict=strict)
    return found


def check_strict_numbers(app: FastAPI) -> None:
    """Refuse to build an app whose request bodies take lax numbers (fail at start-up, with the
    routes and fields to fix: use `StrictInt` / `StrictFloat`)."""
    problems: list[str] = []
    for route in api_routes(app):
        if route.body_field is None:
            continue
        for param in (p for d in _dependants(route.dependant) for p in d.body_params):
            annotation = param.field_info.annotation
            for model in _models(annotation):
                problems += [f"{route.path} {field}" for field in lax_numbers(model)]
    if problems:
        raise LaxNumberError("lax numbers in request bodies: " + ", ".join(sorted(set(problems))))


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in get_args(annotation):
        yield from _models(arg)
