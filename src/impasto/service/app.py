"""The REST API and the browser UI (FastAPI). CPU-bound work never runs here: the app validates and
stores uploads, records jobs and dispatches them, and relays their progress; workers do the rest.

:func:`create_app` builds the app on the backends chosen at start-up (:mod:`.backends`): the middleware
(:mod:`.middleware`), the error handlers (here: every error is JSON) and the routers
(:mod:`.routes`), which receive the service's state through ``Depends``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from .. import __version__
from ..errors import ConfigError
from .auth import Authenticator, KeyRing, RateLimiter, SessionStore, allowed_hosts
from .backends import Backends
from .kinds import load_kinds
from .limits import LimitError, Settings
from .middleware import BodyTooLarge, Guard, TrustedHosts
from .routes import gallery, health, jobs, kinds, session, submit, ui
from .routes.deps import ApiError, Service, error_response
from .storage import Disk, StorageFull, is_disk_full
from .stores import BackendUnavailable
from .timeouts import SlowBody


def create_app(settings: Settings, backends: Backends) -> FastAPI:
    """The ASGI app on ``backends`` (whose dispatcher the caller starts and stops)."""
    app = FastAPI(
        title="impasto",
        version=__version__,
        docs_url=None,  # FastAPI's own /docs loads Swagger UI from a CDN: ours is served from a package
        redoc_url=None,
        description="Neural style transfer as a service: submit a job, follow its progress, fetch the result.",
    )
    access = settings.access
    ring = KeyRing(api_key=settings.api_key, admin_key=access.admin_key, keys_file=access.keys_file)
    service = Service(
        settings=settings,
        backends=backends,
        kinds=load_kinds(),
        auth=Authenticator(ring, SessionStore(settings.data_dir), access),
        limiter=RateLimiter(access.rate_limit) if access.rate_limit else None,
        disk=Disk(settings.data_dir, settings.min_free_mb),
        spool_dir=Path(settings.data_dir) / "uploads",
        thumbs_dir=Path(settings.data_dir) / "thumbs",
    )
    app.state.service = service
    app.add_middleware(
        Guard, auth=service.auth, max_body=settings.limits.max_request_bytes, body_timeout=access.body_timeout
    )
    app.add_middleware(TrustedHosts, allowed=allowed_hosts(settings.host, access.allowed_hosts))
    add_error_handlers(app, service)
    for router in (health.router, ui.router, session.router, kinds.router, gallery.router, jobs.router):
        app.include_router(router)
    app.include_router(submit.submit_route(service.kinds, settings.limits.max_styles))
    ui.mount_static(app)
    gallery.warm_thumbs(service)
    return app


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method of the path, not only those of the first route matched (the 405's Allow header)."""
    methods: set[str] = set()
    for route in app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(scope)[0] != Match.NONE:
            methods |= set(route_methods)
    return sorted(methods)


def add_error_handlers(app: FastAPI, service: Service) -> None:
    """Every error is JSON (:func:`~.routes.deps.error_response`)."""
    disk = service.disk

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, str(exc), field=exc.field, limit=exc.limit)

    @app.exception_handler(LimitError)
    async def _limit_error(request: Request, exc: LimitError) -> JSONResponse:
        code = {413: "too_large", 429: "queue_full"}.get(exc.status, "limit_exceeded")
        return error_response(exc.status, code, str(exc), field=exc.field, limit=exc.limit)

    @app.exception_handler(ConfigError)
    async def _config_error(request: Request, exc: ConfigError) -> JSONResponse:
        return error_response(422, "invalid", str(exc), field=exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body")]
        name = ".".join(loc) or None
        return error_response(
            422, "invalid", f"{name or 'request'}: {first.get('msg', 'invalid value')}", field=name
        )

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return error_response(413, "too_large", str(exc.detail), field="body", limit=exc.limit)

    @app.exception_handler(SlowBody)
    async def _too_slow(request: Request, exc: SlowBody) -> JSONResponse:
        return error_response(408, "too_slow", str(exc.detail), field="body", headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 400: "bad_request"}
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(app, request.scope))}
        return error_response(
            exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail), headers=headers
        )

    @app.exception_handler(StorageFull)
    async def _storage_full(request: Request, exc: StorageFull) -> JSONResponse:
        return error_response(507, "storage_full", str(exc), field="storage", limit=disk.floor)

    @app.exception_handler(BackendUnavailable)
    async def _backend_unavailable(request: Request, exc: BackendUnavailable) -> JSONResponse:
        return error_response(
            503,
            "backend_unavailable",
            f"{exc}; try again shortly",
            field="backend",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(OSError)
    @app.exception_handler(sqlite3.Error)
    async def _io_error(request: Request, exc: Exception) -> JSONResponse:
        if is_disk_full(exc):  # a full disk or quota while storing uploads or the job
            return await _storage_full(request, disk.ran_out())
        return error_response(500, "internal", f"internal error: {type(exc).__name__}")

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - a bug
        return error_response(500, "internal", f"internal error: {type(exc).__name__}")
