"""Shared request dependencies."""

from __future__ import annotations

from fastapi import HTTPException, Request

from .state import ServiceState


async def ready_state(request: Request) -> ServiceState:
    """The service state, or 503 while the study area is still loading (or failed to load).

    A coroutine, so FastAPI runs it on the event loop: a sync dependency would wait for a worker thread."""
    state: ServiceState = request.app.state.lifecircle
    if not state.ready:
        loading = state.error is None
        raise HTTPException(
            status_code=503,
            detail=[{"field": "service", "reason": state.public_error or ""}],
            headers={"Retry-After": "5"} if loading else None,
        )
    return state


def profile_key(state: ServiceState, key: str | None, field: str = "profile") -> str:
    """The key of a walking profile of the served area (its everyone profile when ``key`` is None), or a 422."""
    rules = state.plan.rules
    if key is None:
        return rules.everyone.key
    known = [p.key for p in rules.profiles]
    if key not in known:
        raise bad(field, f"{key!r} is not one of {', '.join(known)}")
    return key


def bad(field: str, reason: str) -> HTTPException:
    """A 422 naming the field and the reason."""
    return HTTPException(status_code=422, detail=[{"field": field, "reason": reason}])
