"""The FastAPI application: middleware, error handling and routers, over one ServiceState."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from planner.area import StudyArea
from planner.errors import LifecircleError
from planner.plan import Plan

from . import fast_lane, problems, routes_access, routes_layers, routes_meta, routes_page
from .settings import Settings
from .state import ServiceState
from .work import Work

log = logging.getLogger("api")

_DESCRIPTION = """
Walking access to community services (十五分钟社区生活圈) for one study area: minutes from any address to the
nearest community service **center** (15 min), **station** (10 min) and **point** (5 min), at adult or elderly
walking speed, measured along the streets. Coordinates are WGS-84 unless a request says `gcj02` or `bd09`;
answers are always WGS-84, rounded to 6 decimals.

**Inside the area** means within reach of the walk network: within 500 m of a street of the study area. The
same rule holds for every endpoint. A point outside is answered, not refused: `/coverage` gives it null minutes
and null `covered` with a `reason`, `/isochrones` a feature without geometry and a `reason`, and `/what-if`
does not open a site there and says so.

**Errors** are RFC 9457 problem details (`application/problem+json`) with an `errors` list naming each offending
`field` and the `reason`, for every 4xx and 5xx.

**API keys** (optional): a server started with `LIFECIRCLE_API_KEYS` (comma-separated) answers every endpoint
but `/health`, `/ready`, the documentation and the page's shell and assets only with one of them in the
`X-API-Key` header, else 401. CORS is closed unless `LIFECIRCLE_CORS_ORIGINS` names the origins allowed.

**The what-if page** for officials is at [`/`](/): click the map to open a 服务站 or 服务点, click a facility to
close it, and read the residents and elderly newly covered or lost per tier and per 街道 (the answer of
`POST /what-if`); `POST /what-if/lists.xlsx` downloads the scenario's three lists.

Street data © OpenStreetMap contributors (ODbL).
"""


def _openapi(app: FastAPI, area: StudyArea | Path, *, keys: bool = False) -> None:
    """OpenAPI lists the served area's own tiers and profiles as the allowed values (read from its TOML file,
    so the schema is right before the network is built; requests are checked against the same lists), and
    declares every error as problem details; with API keys, the ``X-API-Key`` header and its 401."""
    enums: dict[str, list[str]] = {}
    try:
        rules = area.rules if isinstance(area, StudyArea) else StudyArea.from_toml(area).rules
    except LifecircleError:  # /ready reports the problem once the build fails on it
        pass
    else:
        enums = {"profile": [p.key for p in rules.profiles], "tier": [t.key for t in rules.tiers]}
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        problems.fix_openapi(schema)
        for path in schema.get("paths", {}).values():
            for op in path.values():
                for param in op.get("parameters", []):
                    if param.get("name") in enums:
                        _set_enum(param.setdefault("schema", {}), enums[param["name"]])
        for model in schema.get("components", {}).get("schemas", {}).values():
            for name, prop in model.get("properties", {}).items():
                if name in enums:
                    _set_enum(prop, enums[name])
        if keys:
            _declare_keys(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_keys(schema: dict) -> None:
    """The API-key header as the security of every operation but the open ones, each with its 401."""
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["APIKeyHeader"] = {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "One of the keys in LIFECIRCLE_API_KEYS",
    }
    unauthorized = {
        "description": "Missing or wrong X-API-Key header",
        "content": {problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if _open(method.upper(), path):
                continue
            op["security"] = [{"APIKeyHeader": []}]
            op.setdefault("responses", {})["401"] = unauthorized


def _set_enum(prop: dict, values: list[str]) -> None:
    """Put ``enum`` on the string branch of a (possibly nullable) property schema."""
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") == "string":
            branch["enum"] = values


def create_app(settings: Settings | None = None, *, plan: Plan | None = None) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    settings : Settings, optional
    plan : planner.plan.Plan, optional
        An already built plan (tests); otherwise the settings' area is built at start-up.
    """
    settings = settings or Settings()
    state = ServiceState(settings.area, plan)
    work = Work(settings, state)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.start()
        yield
        work.shutdown()

    # /docs and /redoc from the Swagger UI and ReDoc files fastapi-offline ships (no CDN: intranet-ready);
    # no online validator badge either
    app = FastAPIOffline(
        title="lifecircle — 15-minute community life-circle API",
        version="0.2.0",
        description=_DESCRIPTION,
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.lifecircle = state
    app.state.settings = settings
    app.state.work = work
    _openapi(app, plan.area if plan is not None else settings.area, keys=bool(settings.api_keys))

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"], allow_headers=["*"]
        )

    problems.install(app)
    for router in (routes_meta.router, routes_access.router, routes_layers.router, routes_page.router):
        app.include_router(router)
    # the what-if page's script and styles (GET / is the page itself)
    app.mount("/static", StaticFiles(directory=routes_page.STATIC), name="static")
    app.add_middleware(
        GuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        timeout_s=settings.request_timeout_s,
        retry_after_s=settings.retry_after_s,
        api_keys=settings.api_keys,
        fast=fast_lane.endpoints(routes_access.router.routes) if settings.fast_lane else None,
        service=(state, work),
    )
    return app


class GuardMiddleware:
    """Request ids, API keys, body-size and time limits, the ``/coverage`` fast lane, and one structured log
    line per request (pure ASGI).

    A request over the time limit is cancelled (a worker process computing for it is killed, see
    :mod:`api.heavy`) and answered 503 with ``Retry-After``. With ``api_keys``, a request without a valid
    ``X-API-Key`` header is answered 401 (problem details), except on :data:`OPEN_PATHS` / :data:`OPEN_PREFIXES`
    and for CORS preflights (``OPTIONS``, which carry no custom header and answer no data).
    """

    def __init__(
        self,
        app,
        *,
        max_body_bytes: int,
        timeout_s: float,
        retry_after_s: int = 5,
        api_keys: list[str] | None = None,
        fast: dict[tuple[str, str], fast_lane.Endpoint] | None = None,
        service: tuple[ServiceState, Work] | None = None,
    ):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.api_keys = [k.encode() for k in api_keys or [] if k]
        self.fast = fast or {}
        self.service = service

    def _key_ok(self, given: bytes | None) -> bool:
        if given is None:
            return False
        ok = False
        for key in self.api_keys:  # every key compared, in constant time: no timing tells which was close
            ok |= hmac.compare_digest(given, key)
        return ok

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        request_id = (headers.get(b"x-request-id") or uuid.uuid4().hex[:16].encode())[:64].decode("latin-1")
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = {"code": 500}
        started = {"done": False}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                started["done"] = True
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        length = headers.get(b"content-length")
        received = {"bytes": 0}

        async def receive_limited():
            message = await receive()
            if message["type"] == "http.request":
                received["bytes"] += len(message.get("body", b""))
                if received["bytes"] > self.max_body_bytes:
                    raise _TooLarge
            return message

        path = scope["path"]
        try:
            if self.api_keys and not _open(scope["method"], path) and not self._key_ok(headers.get(b"x-api-key")):
                reason = "missing" if b"x-api-key" not in headers else "not a valid key"
                await _problem(send_with_id, scope, request_id, 401, "X-API-Key", f"header {reason}", [_KEY_CHALLENGE])
                return
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                raise _TooLarge
            async with asyncio.timeout(self.timeout_s):  # no task per request, unlike wait_for
                endpoint = self.fast.get((scope["method"], path))
                if endpoint is not None and self.service is not None and fast_lane.is_json(headers):
                    receive_limited = await self._fast(endpoint, scope, receive_limited, send_with_id)
                    if receive_limited is None:
                        return
                await self.app(scope, receive_limited, send_with_id)
        except _TooLarge:
            if not started["done"]:
                reason = f"request body larger than {self.max_body_bytes:,} bytes"
                await _problem(send_with_id, scope, request_id, 413, "body", reason)
        except TimeoutError:
            if not started["done"]:
                reason = f"took longer than {self.timeout_s:g} s"
                retry = [(b"retry-after", str(self.retry_after_s).encode())]
                await _problem(send_with_id, scope, request_id, 503, "request", reason, retry)
        finally:  # a crash too (its 500 is answered by the error handler outside this middleware)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    json.dumps(
                        {
                            "request_id": request_id,
                            "method": scope["method"],
                            "path": path,
                            "status": status["code"],
                            "ms": round(1000 * (time.perf_counter() - start), 2),
                        }
                    )
                )

    async def _fast(self, endpoint: fast_lane.Endpoint, scope, receive, send):
        """Answer through the fast lane (returns None), or give back a ``receive`` that replays the body read."""
        assert self.service is not None
        state, work = self.service
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: nothing to answer
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        if state.ready:
            response = await endpoint(raw, state, work)
            if response is not None:
                await response(scope, receive, send)
                return None
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        return replay


#: Paths answered without an API key: liveness, readiness, the documentation and the page's shell and assets.
OPEN_PATHS = frozenset({"/health", "/ready", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/"})
OPEN_PREFIXES = ("/static/", "/static-offline-docs/", "/page/leaflet.")
_KEY_CHALLENGE = (b"www-authenticate", b'APIKey header="X-API-Key"')


def _open(method: str, path: str) -> bool:
    """Whether a request needs no API key."""
    if method == "OPTIONS":
        return True
    if path in OPEN_PATHS:
        return method in ("GET", "HEAD")
    return path.startswith(OPEN_PREFIXES) and method in ("GET", "HEAD")


class _TooLarge(Exception):
    pass


async def _problem(
    send, scope, request_id: str, status: int, field: str, reason: str, headers: list | None = None
) -> None:
    body = problems.encode(
        problems.problem(status, [{"field": field, "reason": reason}], instance=scope["path"], request_id=request_id)
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", problems.MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
