"""A fast lane for the hottest read-only endpoint (``POST /coverage``): its endpoint called from the outer
middleware, without the framework's routing and dependency injection.

A single-point ``/coverage`` costs ~1 ms of CPU; about half of it was FastAPI's request handling (routing,
dependency resolution, body parsing, exception middleware), not the query. The lane answers the request by
calling the *same* endpoint function with the same arguments FastAPI would pass (the validated body model, the
service state, the :class:`api.work.Work`), so the answer is the same by construction. It only takes requests
it is sure of: the right method, path and JSON content type, a body the endpoint's model accepts, a study area
that is ready, and an endpoint that answers with a ready-made :class:`~starlette.responses.Response`. Anything
else (a validation error, an error the endpoint raises, a dict to serialize) is replayed, body included, on
the ordinary path, which gives the ordinary answer (problem details and all).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from fastapi import params
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from .deps import ready_state
from .work import get_work

log = logging.getLogger("api")

#: Read-only endpoints the lane may answer (method, path). Each is safe to run twice (a replay after an error).
PATHS = frozenset({("POST", "/coverage")})


class Endpoint:
    """How to call one endpoint directly: its function, its body model and which argument is what."""

    def __init__(self, fn: Callable[..., Any], body_name: str, model: type[BaseModel], state_name: str, work_name: str):
        self.fn = fn
        self.body_name = body_name
        self.model = model
        self.state_name = state_name
        self.work_name = work_name

    async def __call__(self, raw: bytes, state: Any, work: Any) -> Response | None:
        """The endpoint's response to the JSON body ``raw``, or None when the ordinary path must answer."""
        try:
            body = self.model.model_validate_json(raw)
        except ValidationError:
            return None
        try:
            out = await self.fn(**{self.body_name: body, self.state_name: state, self.work_name: work})
        except Exception:  # noqa: BLE001 - replayed on the ordinary path, whose handlers answer it
            return None
        return out if isinstance(out, Response) else None


def endpoints(routes: list[Any]) -> dict[tuple[str, str], Endpoint]:
    """The endpoints of :data:`PATHS` among ``routes`` whose signature the lane understands.

    An endpoint qualifies when it is a coroutine whose parameters are exactly one pydantic body model, one
    ``Depends(ready_state)`` and one ``Depends(get_work)`` (in any order, by any name); else it is left to the
    ordinary path, so a change of the endpoint never makes the lane answer differently.
    """
    found: dict[tuple[str, str], Endpoint] = {}
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods or ():
            key = (method, route.path)
            if key in PATHS and key not in found:
                ep = _endpoint(route.endpoint)
                if ep is not None:
                    found[key] = ep
    return found


def _endpoint(fn: Callable[..., Any]) -> Endpoint | None:
    if not inspect.iscoroutinefunction(fn):
        return None
    try:
        hints = inspect.get_annotations(fn, eval_str=True)
    except Exception:  # noqa: BLE001 - an annotation it cannot read: not for the lane
        return None
    body = state = work = None
    model: type[BaseModel] | None = None
    for name, param in inspect.signature(fn).parameters.items():
        default = param.default
        if isinstance(default, params.Depends) and default.dependency is ready_state and state is None:
            state = name
        elif isinstance(default, params.Depends) and default.dependency is get_work and work is None:
            work = name
        elif (
            default is inspect.Parameter.empty
            and isinstance(hints.get(name), type)
            and issubclass(hints[name], BaseModel)
            and body is None
        ):
            body, model = name, hints[name]
        else:
            return None
    if body is None or state is None or work is None or model is None:
        return None
    return Endpoint(fn, body, model, state, work)


def is_json(headers: dict[bytes, bytes]) -> bool:
    """Whether the request says its body is JSON (``application/json`` or ``+json``)."""
    kind = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    return kind == b"application/json" or (kind.startswith(b"application/") and kind.endswith(b"+json"))
