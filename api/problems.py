"""Every 4xx and 5xx answer in one shape: RFC 9457 problem details (``application/problem+json``).

``{"type": "about:blank", "title": "Unprocessable Content", "status": 422, "detail": "points[0].lat: …",
"instance": "/coverage", "errors": [{"field": "points[0].lat", "reason": "…"}], "request_id": "…"}``

``errors`` always names at least one field (``body``, ``path``, ``method``, ``service``, ``request`` or
``server`` when no request field is at fault). No answer carries a server path, an exception class name or a
traceback: those go to the server log, found by the ``request_id``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("api")

MEDIA_TYPE = "application/problem+json"

# RFC 9110 names (Python's http module still has the older "Request Entity Too Large"/"Unprocessable Entity")
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


class ProblemField(BaseModel):
    """One problem with a request."""

    field: str = Field(description="Where the problem is, e.g. points[3].lat, or body, path, method, service")
    reason: str = Field(description="What is wrong, in words")


class Problem(BaseModel):
    """RFC 9457 problem details: the shape of every 4xx and 5xx answer (``application/problem+json``)."""

    type: str = Field(description="Problem type; about:blank = the HTTP status says it all", examples=["about:blank"])
    title: str = Field(description="The HTTP status in words", examples=["Unprocessable Content"])
    status: int = Field(description="The HTTP status code", examples=[422])
    detail: str = Field(description="What went wrong, in words", examples=["points[0].lat: Input should be a number"])
    instance: str | None = Field(None, description="The request path")
    errors: list[ProblemField] = Field(description="Each offending field and the reason")
    request_id: str | None = Field(None, description="The x-request-id of the request, to find it in the log")


_DESCRIPTIONS = {
    404: "No such endpoint, or nothing to show",
    405: "Method not allowed on this path (the Allow header lists the methods)",
    413: "Request body too large",
    422: "Invalid request: each offending field and the reason",
    500: "Internal error (the server log has the details, by request_id)",
    503: (
        "Not ready yet, failed to load the study area, busy with other heavy requests, or the request took too"
        " long (then stopped); Retry-After says when to try again, where waiting helps"
    ),
}

#: Error responses declared on every operation, so /docs and the OpenAPI schema say what errors look like.
PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text} for status, text in _DESCRIPTIONS.items()
}


def title(status: int) -> str:
    """The status in words (RFC 9110 spelling)."""
    if status in _TITLES:
        return _TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem(
    status: int,
    errors: list[dict[str, str]],
    *,
    instance: str | None = None,
    request_id: str | None = None,
    detail: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The problem-details body for ``status`` and its ``errors`` (each ``{"field", "reason"}``)."""
    errors = [{"field": str(e.get("field", "request")), "reason": str(e.get("reason", ""))} for e in errors] or [
        {"field": "request", "reason": title(status).lower()}
    ]
    if detail is None:
        shown = [f"{e['field']}: {e['reason']}" for e in errors[:3]]
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        detail = "; ".join(shown) + more
    return {
        "type": "about:blank",
        "title": title(status),
        "status": status,
        "detail": detail,
        "instance": instance,
        "errors": errors,
        "request_id": request_id,
        **extra,
    }


def encode(body: dict[str, Any]) -> bytes:
    """The body as UTF-8 JSON (Chinese kept readable)."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")


def response(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    """An ``application/problem+json`` response."""
    return Response(encode(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _field(loc) -> str:
    parts = [p for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def _default_errors(request: Request, exc: StarletteHTTPException) -> list[dict[str, str]]:
    if exc.status_code == 404:
        return [{"field": "path", "reason": f"no endpoint {request.url.path}; /docs lists them"}]
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow") or ""
        return [{"field": "method", "reason": f"{request.method} is not allowed here; use {allowed or 'another'}"}]
    return [{"field": "request", "reason": str(exc.detail)}]


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem details."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = []
        for err in exc.errors():
            reason = err.get("msg", "invalid")
            if err.get("type") == "json_invalid":
                reason = f"invalid JSON: {err.get('ctx', {}).get('error', reason)}"
            errors.append({"field": _field(err.get("loc", ())), "reason": reason.removeprefix("Value error, ")})
        return response(422, problem(422, errors, instance=request.url.path, request_id=_request_id(request)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        errors = exc.detail if isinstance(exc.detail, list) else _default_errors(request, exc)
        body = problem(exc.status_code, errors, instance=request.url.path, request_id=_request_id(request))
        return response(exc.status_code, body, headers=exc.headers)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        request_id = _request_id(request)
        log.error("request %s failed", request_id, exc_info=exc)
        errors = [{"field": "server", "reason": "internal error; the server log has the details"}]
        body = problem(500, errors, instance=request.url.path, request_id=request_id)
        # answered outside the middleware that adds the request id to every other answer
        return response(500, body, headers={"x-request-id": request_id} if request_id else None)


def fix_openapi(schema: dict[str, Any]) -> None:
    """Declare every 4xx/5xx response as ``application/problem+json`` with the :class:`Problem` schema.

    FastAPI files a response ``model`` under ``application/json``; this moves it, and drops FastAPI's own
    validation-error schemas, which no answer uses.
    """
    ref = {"$ref": "#/components/schemas/Problem"}
    for path in schema.get("paths", {}).values():
        for op in path.values():
            for status, resp in op.get("responses", {}).items():
                if str(status)[0] in "45":
                    resp["content"] = {MEDIA_TYPE: {"schema": ref}}
    schemas = schema.get("components", {}).get("schemas", {})
    text = json.dumps(schema.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'/{unused}"' not in text:
            schemas.pop(unused, None)
