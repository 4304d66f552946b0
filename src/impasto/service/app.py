"""The REST API and the browser UI (FastAPI). CPU-bound work never runs here: the app validates and
stores uploads, puts jobs in the queue and relays their progress; worker processes do the rest."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import anyio
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Match
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..errors import ConfigError, ImageError, UnsupportedFormatError
from .auth import (
    ANONYMOUS,
    SESSION_COOKIE,
    UNSAFE_METHODS,
    Authenticator,
    KeyRing,
    Principal,
    RateLimiter,
    SessionStore,
    allowed_hosts,
    same_origin,
)
from .kinds import Kind, build_config, check_job, job_budget, load_kinds
from .limits import ITER_FIELDS, LimitError, Settings
from .limits import is_size_field as _is_size
from .queue import CANCELLED, QUEUED, RUNNING, STATES, Job, JobQueue
from .storage import Disk, StorageFull, is_disk_full
from .timeouts import SlowBody, paced
from .uploads import FormError, read_form
from .worker import PREVIEW_NAME

GALLERY_EXTS = (".jpg", ".jpeg", ".png", ".webp")
THUMB_SIZE = 256


# -- response models (they document the API in the served OpenAPI spec) ------------------------
class ProgressOut(BaseModel):
    step: int = Field(description="iterations done")
    total: int = Field(description="iterations planned (of the current stage)")
    fraction: float = Field(description="step / total, 0..1")
    losses: dict[str, float] = Field(description="named loss breakdown of the latest step")
    elapsed: float = Field(description="seconds since the pipeline started")
    eta: float | None = Field(description="estimated seconds left")
    stage: str = Field(description="e.g. 'scale 2/3 (362 px)'; empty for single-stage runs")


class JobOut(BaseModel):
    id: str
    kind: str
    owner: str = Field(description="who submitted it: key:NAME, session:ID or anonymous")
    state: str = Field(description="queued | running | succeeded | failed | cancelled")
    params: dict[str, Any] = Field(description="the parameters given, after type conversion")
    inputs: dict[str, int] = Field(description="number of files per upload field")
    created_at: float
    started_at: float | None
    finished_at: float | None
    queue_position: int | None = Field(description="jobs ahead of this one (queued jobs only)")
    progress: ProgressOut | None
    error: str | None
    cancel_requested: bool
    attempts: int = Field(description="times a worker started this job (above 1 after a restart)")
    has_preview: bool
    has_result: bool
    urls: dict[str, str]


class JobList(BaseModel):
    jobs: list[JobOut]


class ErrorOut(BaseModel):
    error: str = Field(description="machine-readable code: invalid, too_large, queue_full, not_found, ...")
    detail: str = Field(description="one line a person can act on")
    field: str | None = Field(None, description="the request field at fault")
    limit: float | int | None = Field(None, description="the limit that was exceeded")


ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 408, 413, 415, 422, 429)}
SUBMIT_ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 408, 413, 415, 422, 429, 507)}


def _error(
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    limit=None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": code, "detail": detail, "field": field, "limit": limit}
    return JSONResponse(body, status_code=status, headers=headers)


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, *, field: str | None = None, limit=None) -> None:
        super().__init__(detail)
        self.status, self.code, self.field, self.limit = status, code, field, limit


# -- ASGI middleware: hosts, who is asking, request size and pace, before any body is parsed ----------
class TrustedHosts:
    """Starlette's TrustedHostMiddleware, with its plain-text refusal answered as this API's JSON."""

    def __init__(self, app, *, allowed: list[str]) -> None:
        self.app = app
        self.check = TrustedHostMiddleware(self._trusted, allowed_hosts=allowed, www_redirect=False)

    async def _trusted(self, scope, receive, send) -> None:
        scope["impasto.trusted_host"] = True
        await self.app(scope, receive, send)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def checked_send(message):
            if scope.get("impasto.trusted_host"):
                await send(message)
            elif message["type"] == "http.response.start":  # the check refused the Host header
                host = Headers(scope=scope).get("host", "")
                await _error(
                    400,
                    "bad_host",
                    f"this server does not answer to the host name {host!r} "
                    "(impasto serve --allowed-host NAME adds one)",
                    field="host",
                )(scope, receive, send)

        await self.check(scope, receive, checked_send)


class Guard:
    """Finds who is asking (an API key, a session cookie, or nobody; see :mod:`.auth`) on every route but
    /healthz and /login, refuses cross-origin writes (403), and refuses request bodies above the limit
    (413) or arriving too slowly (408) while they stream in."""

    def __init__(self, app, *, auth: Authenticator, max_body: int, body_timeout: float) -> None:
        self.app, self.auth, self.max_body, self.body_timeout = app, auth, max_body, body_timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path, method = scope.get("path", ""), scope.get("method", "GET")
        principal, by_cookie = (
            (None, False)
            if path == "/healthz"
            else await anyio.to_thread.run_sync(self.auth.identify, headers)
        )
        if method in UNSAFE_METHODS and path != "/healthz":
            # Browsers send Origin on every POST/DELETE (a script with a key header need not). A session made
            # with a key must show it; a keyless server's anonymous session holds nothing a script lacks.
            origin = same_origin(scope, headers, https=self.auth.access.secure_cookie)
            if origin is False or (by_cookie and origin is None and principal.key is not None):
                response = _error(
                    403,
                    "cross_origin",
                    "refused: this write comes from another site's page (Origin/Referer is not this server)",
                    field="origin",
                )
                return await response(scope, receive, send)
        if principal is None and self.auth.required and path not in ("/healthz", "/login"):
            if path == "/" and method in ("GET", "HEAD"):
                return await HTMLResponse(_static_text("login.html"), status_code=401)(scope, receive, send)
            response = _error(
                401,
                "unauthorized",
                "missing or wrong API key (send it as the X-API-Key header)",
                field="api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
            return await response(scope, receive, send)
        scope.setdefault("state", {})["principal"] = principal or Principal(ANONYMOUS)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return await self._too_large(scope, receive, send)
        seen = 0
        started = False
        paced_receive = paced(receive, self.body_timeout)

        async def limited_receive():
            nonlocal seen
            message = await paced_receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _BodyTooLarge(self.max_body)
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._too_large(scope, receive, send)
        except SlowBody as exc:
            if not started:
                await _error(408, "too_slow", str(exc.detail), field="body", headers=exc.headers)(
                    scope, receive, send
                )

    async def _too_large(self, scope, receive, send) -> None:
        mib = self.max_body / 1024 / 1024
        await _error(
            413, "too_large", f"request body is larger than {mib:.1f} MiB", field="body", limit=self.max_body
        )(scope, receive, send)


class _BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit / 1024 / 1024:.1f} MiB")
        self.limit = limit


def _static_text(name: str) -> str:
    return resources.files("impasto.service").joinpath("static", name).read_text(encoding="utf-8")


# -- the app -------------------------------------------------------------------------------------
def create_app(
    settings: Settings, queue: JobQueue, *, workers_alive: Callable[[], int] | None = None
) -> FastAPI:
    """The ASGI app; ``workers_alive`` reports live worker processes for /healthz."""
    kinds = load_kinds()
    limits = settings.limits
    app = FastAPI(
        title="impasto",
        version=__version__,
        docs_url=None,
        redoc_url=None,  # their pages load Swagger/ReDoc from a CDN; the spec itself is served
        description="Neural style transfer as a service: submit a job, follow its progress, fetch the result.",
    )
    app.state.queue = queue
    access = settings.access
    ring = KeyRing(api_key=settings.api_key, admin_key=access.admin_key, keys_file=access.keys_file)
    auth = Authenticator(ring, SessionStore(settings.data_dir), access)
    limiter = RateLimiter(access.rate_limit) if access.rate_limit else None
    app.add_middleware(Guard, auth=auth, max_body=limits.max_request_bytes, body_timeout=access.body_timeout)
    app.add_middleware(TrustedHosts, allowed=allowed_hosts(settings.host, access.allowed_hosts))
    gallery_dir = settings.gallery
    thumbs_dir = Path(settings.data_dir) / "thumbs"
    spool_dir = Path(settings.data_dir) / "uploads"  # multipart bodies, never the system /tmp
    disk = Disk(settings.data_dir, settings.min_free_mb)

    # -- error handlers: every error is JSON ----------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return _error(exc.status, exc.code, str(exc), field=exc.field, limit=exc.limit)

    @app.exception_handler(LimitError)
    async def _limit_error(request, exc: LimitError):
        code = {413: "too_large", 429: "queue_full"}.get(exc.status, "limit_exceeded")
        return _error(exc.status, code, str(exc), field=exc.field, limit=exc.limit)

    @app.exception_handler(ConfigError)
    async def _config_error(request, exc: ConfigError):
        return _error(422, "invalid", str(exc), field=exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body")]
        name = ".".join(loc) or None
        return _error(422, "invalid", f"{name or 'request'}: {first.get('msg', 'invalid value')}", field=name)

    @app.exception_handler(_BodyTooLarge)
    async def _too_large(request, exc: _BodyTooLarge):
        return _error(413, "too_large", str(exc.detail), field="body", limit=exc.limit)

    @app.exception_handler(SlowBody)
    async def _too_slow(request, exc: SlowBody):
        return _error(408, "too_slow", str(exc.detail), field="body", headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 400: "bad_request"}
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # every method of the path, not only those of the first route matched
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request.scope))}
        return _error(exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail), headers=headers)

    def allowed_methods(scope) -> list[str]:
        methods: set[str] = set()
        for route in app.router.routes:
            if getattr(route, "methods", None) and route.matches(scope)[0] != Match.NONE:
                methods |= set(route.methods)
        return sorted(methods)

    @app.exception_handler(StorageFull)
    async def _storage_full(request, exc: StorageFull):
        return _error(507, "storage_full", str(exc), field="storage", limit=disk.floor)

    @app.exception_handler(OSError)
    @app.exception_handler(sqlite3.Error)
    async def _io_error(request, exc: Exception):  # a full disk or quota while storing uploads or the job
        if is_disk_full(exc):
            return await _storage_full(request, disk.ran_out())
        return _error(500, "internal", f"internal error: {type(exc).__name__}")

    @app.exception_handler(Exception)
    async def _internal(request, exc: Exception):  # pragma: no cover - a bug; still JSON
        return _error(500, "internal", f"internal error: {type(exc).__name__}")

    # -- helpers ----------------------------------------------------------------------------------
    def job_out(job: Job) -> dict[str, Any]:
        d = queue.job_dir(job.id)
        base = f"/v1/jobs/{job.id}"
        p = job.progress
        position = None
        if job.state == QUEUED:
            position = sum(
                1
                for j in queue.list(limit=limits.max_queue + 1000, state=QUEUED)
                if j.created_at < job.created_at
            )
        has_result = bool(job.result) and (d / job.result).is_file()
        return {
            "id": job.id,
            "kind": job.kind,
            "owner": job.owner,
            "state": job.state,
            "params": job.params,
            "inputs": {k: len(v) for k, v in job.inputs.items()},
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "queue_position": position,
            "progress": None
            if job.state == QUEUED or p.total == 0
            else {
                "step": p.step,
                "total": p.total,
                "fraction": min(1.0, p.step / p.total) if p.total else 0.0,
                "losses": p.losses,
                "elapsed": p.elapsed,
                "eta": p.eta,
                "stage": p.stage,
            },
            "error": job.error,
            "cancel_requested": job.cancel_requested,
            "attempts": job.attempts,
            "has_preview": (d / PREVIEW_NAME).is_file(),
            "has_result": has_result,
            "urls": {
                "self": base,
                "events": f"{base}/events",
                "preview": f"{base}/preview",
                "result": f"{base}/result",
            },
        }

    def get_job(job_id: str, request: Request) -> Job:
        job = queue.get(job_id) if _valid_id(job_id) else None
        if job is None or not principal(request).sees(job.owner):  # another owner's job: as if none
            raise ApiError(
                404,
                "not_found",
                f"no job with id '{job_id}' (finished jobs are kept for a while, then deleted)",
                field="id",
            )
        return job

    # -- routes -----------------------------------------------------------------------------------
    @app.get(
        "/healthz",
        tags=["service"],
        summary="Liveness: no API key needed",
        description="`status` is `ok`, or `degraded` with a `reason` (a full disk: submissions get 507 "
        "and workers wait until space returns; no worker running).",
    )
    def healthz() -> dict[str, Any]:
        alive = workers_alive() if workers_alive is not None else None
        reason = disk.problem()
        if reason is None and alive == 0:
            reason = "no worker running"
        try:
            pending = queue.pending()
        except sqlite3.Error as exc:
            pending, reason = None, reason or f"queue database: {exc}"
        body = {
            "status": "ok" if reason is None else "degraded",
            "version": __version__,
            "workers": alive,
            "pending": pending,
            "kinds": list(kinds),
        }
        if reason is not None:
            body["reason"] = reason
        return body

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> HTMLResponse:
        response = HTMLResponse(_static_text("index.html"), headers={"Cache-Control": "no-cache"})
        if not auth.required and principal(request).session is None:  # no keys: the browser owns its jobs
            set_session(request, response, *auth.anonymous_session())
        return response

    # -- sessions: POST /login with a key (never in a URL), a random expiring token in a cookie --------
    @app.post(
        "/login",
        tags=["service"],
        summary="Log in with an API key: a session cookie for the browser UI",
        responses={
            200: {"description": "JSON log-in: the session (and its cookie)"},
            303: {"description": "form log-in: the cookie, and back to the UI"},
            401: {
                "model": ErrorOut,
                "content": {"text/html": {}},
                "description": "wrong key: JSON, or the log-in page again for a form",
            },
            403: {"model": ErrorOut},
            408: {"model": ErrorOut},
            413: {"model": ErrorOut},
        },
        openapi_extra={
            "requestBody": {
                "content": {
                    m: {
                        "schema": {
                            "type": "object",
                            "properties": {"api_key": {"type": "string"}},
                            "required": ["api_key"],
                        }
                    }
                    for m in ("application/x-www-form-urlencoded", "application/json")
                }
            }
        },
    )
    async def login(request: Request):
        form = "json" not in request.headers.get("content-type", "")
        try:
            body = dict(await request.form()) if form else await request.json()
        except Exception:
            body = {}
        key = body.get("api_key") if isinstance(body, dict) else None
        made = await anyio.to_thread.run_sync(auth.login, key) if isinstance(key, str) and key else None
        if made is None:
            if form:
                page = _static_text("login.html").replace("<!--error-->", "<p class=error>Wrong API key.</p>")
                return HTMLResponse(page, status_code=401)
            return _error(
                401, "unauthorized", "wrong or missing API key (JSON field api_key)", field="api_key"
            )
        token, session = made
        response = RedirectResponse("/", status_code=303) if form else JSONResponse(session_out(session))
        set_session(request, response, token, session)
        return response

    @app.post(
        "/logout",
        tags=["service"],
        summary="End the browser session",
        responses={
            200: {"description": "asked for JSON"},
            303: {"description": "back to the UI"},
            401: {"model": ErrorOut},
            403: {"model": ErrorOut},
        },
    )
    def logout(request: Request):
        token = principal(request).session
        if token:
            auth.sessions.delete(token)
        form = "json" not in request.headers.get("accept", "")
        response = (
            RedirectResponse("/", status_code=303) if form else JSONResponse({"logged_out": bool(token)})
        )
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.get("/v1/session", tags=["service"], summary="Who this request is: its owner, admin or not")
    def whoami(request: Request) -> dict[str, Any]:
        p = principal(request)
        return {
            "owner": p.owner,
            "admin": p.admin,
            "key": p.key,
            "session": p.session is not None,
            "login_required": auth.required,
        }

    def set_session(request: Request, response, token: str, session) -> None:
        secure = access.secure_cookie or request.url.scheme == "https"
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(access.session_hours * 3600),
            path="/",
            httponly=True,
            samesite="strict",
            secure=secure,
        )

    def session_out(session) -> dict[str, Any]:
        return {"owner": session.owner, "key": session.key_name, "expires_at": session.expires_at}

    app.mount("/static", StaticFiles(packages=[("impasto.service", "static")]), name="static")

    @app.get("/v1/kinds", tags=["service"], summary="Job kinds, their uploads and parameters (with defaults)")
    def list_kinds() -> dict[str, Any]:
        described = []
        for k in kinds.values():
            d = describe_kind(k)
            d["max_work"] = job_budget(k, limits)  # the kind's compute budget in pixel-iterations
            caps = default_caps(k)
            for p in d["params"]:
                if p["name"] in caps:
                    p["default"] = caps[p["name"]]
            described.append(d)
        return {
            "kinds": described,
            "limits": {
                "max_upload_mb": limits.max_upload_mb,
                "max_pixels": limits.max_pixels,
                "max_size": limits.max_size,
                "max_iters": limits.max_iters,
                "max_queue": limits.max_queue,
                "max_styles": limits.max_styles,
                "max_work": limits.max_work,
            },
        }

    @app.get("/v1/styles", tags=["service"], summary="Shipped fast style networks and their styles")
    def list_styles() -> dict[str, Any]:
        try:
            from ..fast import available_models
        except ImportError:
            return {"models": []}
        models = []
        for m in available_models():
            styles = list(getattr(m, "styles", []) or [])
            models.append({"name": m.name, "styles": [{"index": i, "name": s} for i, s in enumerate(styles)]})
        return {"models": models}

    @app.get("/v1/gallery", tags=["service"], summary="Style images offered by the browser UI")
    def list_gallery() -> dict[str, Any]:
        return {
            "images": [
                {
                    "name": p.name,
                    "title": p.stem.replace("_", " ").replace("-", " "),
                    "thumbnail": f"/v1/gallery/{p.name}",
                }
                for p in gallery_files()
            ]
        }

    def gallery_files() -> list[Path]:
        if gallery_dir is None or not Path(gallery_dir).is_dir():
            return []
        return sorted(
            p for p in Path(gallery_dir).iterdir() if p.suffix.lower() in GALLERY_EXTS and p.is_file()
        )

    def gallery_file(name: str) -> Path:
        for p in gallery_files():
            if p.name == name:
                return p
        raise ApiError(404, "not_found", f"no gallery image named '{name}'", field="style_gallery")

    @app.get(
        "/v1/gallery/{name}",
        tags=["service"],
        summary="A gallery image's thumbnail (JPEG)",
        responses={200: {"content": {"image/jpeg": {}}}, **ERRORS},
    )
    def gallery_thumb(name: str) -> FileResponse:
        thumb = ensure_thumb(gallery_file(name))
        return FileResponse(thumb, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    def ensure_thumb(src: Path) -> Path:
        thumb = thumbs_dir / f"{src.stem}-{int(src.stat().st_mtime)}.jpg"
        if not thumb.is_file():
            from PIL import Image

            from ..images import atomic_write, open_image

            thumbs_dir.mkdir(parents=True, exist_ok=True)
            im = open_image(src).convert("RGB")
            im.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
            atomic_write(thumb, lambda fh: im.save(fh, format="JPEG", quality=85))
        return thumb

    def warm_thumbs() -> None:  # so the first page load does not decode every painting at once
        for src in gallery_files():
            try:
                ensure_thumb(src)
            except Exception:
                continue

    threading.Thread(target=warm_thumbs, name="impasto-thumbs", daemon=True).start()

    @app.post(
        "/v1/jobs",
        status_code=202,
        response_model=JobOut,
        tags=["jobs"],
        summary="Submit a job",
        responses=SUBMIT_ERRORS,
        openapi_extra={"requestBody": request_body(kinds, limits.max_styles)},
        description="multipart/form-data: `kind`, the kind's files (`content`, `style` — repeatable, or "
        "`style_gallery` naming a gallery image) and its parameters under the CLI option names "
        "(`size`, `iters`, ...). See `GET /v1/kinds` for every parameter and its default.",
    )
    async def submit(request: Request) -> JSONResponse:
        ctype = request.headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            raise ApiError(415, "unsupported_media_type", "send the job as multipart/form-data", field="body")
        if limiter is not None and (wait := limiter.hit(principal(request).owner)):
            return _error(
                429,
                "rate_limited",
                f"at most {access.rate_limit:g} submissions a minute per key; "
                f"try again in {math.ceil(wait)} s",
                field="rate_limit",
                limit=access.rate_limit,
                headers={"Retry-After": str(math.ceil(wait))},
            )
        if queue.pending() >= limits.max_queue:
            raise LimitError(
                429,
                f"the queue is full ({limits.max_queue} jobs); try again later",
                field="queue",
                limit=limits.max_queue,
            )
        length = request.headers.get("content-length", "")
        disk.check(int(length) if length.isdigit() else 0)  # 507 below the free-space floor
        try:
            form = await read_form(
                request,
                spool_dir=spool_dir,
                disk=disk,
                max_file_bytes=limits.max_upload_bytes,
                max_files=limits.max_styles + 2,
                max_fields=200,
                max_field_bytes=64 * 1024,
            )
        except FormError as exc:
            raise ApiError(400, "bad_request", str(exc), field="body") from None
        try:
            job = await run_in_threadpool(create_job, form, principal(request).owner)
        finally:
            await form.close()
        body = job_out(job)
        return JSONResponse(body, status_code=202, headers={"Location": body["urls"]["self"]})

    def create_job(form, owner: str) -> Job:
        kind_name = form.get("kind", "stylize")
        if not isinstance(kind_name, str) or kind_name not in kinds:
            raise ApiError(
                422,
                "invalid",
                f"kind must be one of {', '.join(kinds)}; got {kind_name!r}"
                if isinstance(kind_name, str)
                else "kind must be a text field",
                field="kind",
            )
        kind = kinds[kind_name]
        file_names = {f.name for f in kind.files}
        uploads: dict[str, list[UploadFile]] = {}
        values: dict[str, list[str]] = {}
        gallery: list[str] = []
        for key, value in form.multi_items():
            if key == "kind":
                continue
            if key == "style_gallery" and "style" in file_names:
                if not isinstance(value, str):
                    raise ApiError(
                        422, "invalid", "style_gallery must be the name of a gallery image", field=key
                    )
                gallery.append(value)
            elif isinstance(value, UploadFile) or not isinstance(value, str):
                if key not in file_names:
                    raise ApiError(
                        422,
                        "invalid",
                        f"unexpected file field '{key}' for kind '{kind.name}' "
                        f"(files: {', '.join(sorted(file_names))})",
                        field=key,
                    )
                uploads.setdefault(key, []).append(value)
            elif key in file_names:
                raise ApiError(422, "invalid", f"{key} must be a file upload, not a text field", field=key)
            else:
                values.setdefault(key, []).append(value)
        for name, cap in default_caps(kind).items():  # a default above this server's limit: the limit
            values.setdefault(name, [str(cap)])
        gallery_paths = [gallery_file(n) for n in gallery]
        for f in kind.files:
            n = len(uploads.get(f.name, [])) + (len(gallery_paths) if f.name == "style" else 0)
            if f.required and n == 0:
                raise ApiError(422, "invalid", f"{f.what} is required (form field '{f.name}')", field=f.name)
            if n > 1 and not f.repeatable:
                raise ApiError(422, "invalid", f"give one {f.what}, not {n}", field=f.name)
            if n > limits.max_styles:
                raise LimitError(
                    422,
                    f"at most {limits.max_styles} {f.what}s per job, got {n}",
                    field=f.name,
                    limit=limits.max_styles,
                )
        config, params = build_config(kind, values)
        check_limits(config, kind)

        job_id = queue.new_id()
        d = queue.job_dir(job_id)
        d.mkdir(parents=True)
        try:
            inputs: dict[str, list[str]] = {}
            sizes: dict[str, list[tuple[int, int]]] = {}
            for f in kind.files:
                for i, up in enumerate(uploads.get(f.name, [])):
                    name, hw = store_upload(up, d, f"{f.name}-{i}", field=f.name, what=f.what)
                    inputs.setdefault(f.name, []).append(name)
                    sizes.setdefault(f.name, []).append(hw)
            for i, src in enumerate(gallery_paths, start=len(inputs.get("style", []))):
                dst = d / f"style-{i}{src.suffix.lower()}"
                shutil.copyfile(src, dst)
                inputs.setdefault("style", []).append(dst.name)
                sizes.setdefault("style", []).append(image_size(dst))
            check_job(kind, config, sizes, limits)  # too small for the pipeline, over the compute budget: 422
            if getattr(config, "size", 0) is None and "content" in sizes:  # output at the content's size
                longest = max(sizes["content"][0])
                if longest > limits.max_size:
                    raise LimitError(
                        422,
                        f"size: the content image is {longest} px on its longest side, above "
                        f"the limit of {limits.max_size}; set size",
                        field="size",
                        limit=limits.max_size,
                    )
            job = queue.submit(job_id, kind.name, params, inputs, max_pending=limits.max_queue, owner=owner)
            if job is None:
                raise LimitError(
                    429,
                    f"the queue is full ({limits.max_queue} jobs); try again later",
                    field="queue",
                    limit=limits.max_queue,
                )
            return job
        except BaseException:
            shutil.rmtree(d, ignore_errors=True)
            raise

    def default_caps(kind: Kind) -> dict[str, int]:
        caps = {}
        for p in kind.params().values():
            limit = (
                limits.max_size if _is_size(p.field) else limits.max_iters if p.field in ITER_FIELDS else None
            )
            if limit is not None and isinstance(p.default, int) and p.default > limit:
                caps[p.name] = limit
        return caps

    def check_limits(config, kind: Kind) -> None:
        for name in [f.name for f in dataclasses.fields(config) if _is_size(f.name)]:
            value = getattr(config, name, None)
            if isinstance(value, int) and value > limits.max_size:
                raise LimitError(
                    422,
                    f"{name} must be at most {limits.max_size} on this server, got {value}",
                    field=kind.form_name(name),
                    limit=limits.max_size,
                )
        for name in ITER_FIELDS:
            value = getattr(config, name, None)
            if isinstance(value, int) and value > limits.max_iters:
                raise LimitError(
                    422,
                    f"{name} must be at most {limits.max_iters} on this server, got {value}",
                    field=kind.form_name(name),
                    limit=limits.max_iters,
                )

    def image_size(path: Path) -> tuple[int, int]:
        """(height, width) of a gallery image from its header (accepted formats only)."""
        from PIL import Image

        from ..images import READ_FORMATS

        try:
            with Image.open(path, formats=READ_FORMATS) as im:
                return im.height, im.width
        except Exception:
            raise ApiError(
                422, "invalid", f"gallery image '{path.name}' is not readable", field="style_gallery"
            ) from None

    def store_upload(
        up: UploadFile, d: Path, stem: str, *, field: str, what: str
    ) -> tuple[str, tuple[int, int]]:
        """Copy an upload into the job directory with the size limit, then check it is a whole image."""
        from PIL import Image

        from ..images import READ_FORMATS, open_image

        label = up.filename or field
        tmp = d / f"{stem}.upload"
        total = 0
        with open(tmp, "wb") as out:
            up.file.seek(0)
            while chunk := up.file.read(1024 * 1024):
                total += len(chunk)
                if total > limits.max_upload_bytes:
                    raise LimitError(
                        413,
                        f"{what} '{label}' is larger than {limits.max_upload_mb:g} MiB",
                        field=field,
                        limit=limits.max_upload_bytes,
                    )
                out.write(chunk)
        if total == 0:
            raise ApiError(422, "invalid", f"{what} '{label}' is empty", field=field)
        try:
            with Image.open(tmp, formats=READ_FORMATS) as im:  # the header only; no other plugin sees it
                w, h = im.size
                fmt = (im.format or "").upper()
        except Image.DecompressionBombError:
            raise LimitError(
                422,
                f"{what} '{label}' has more than {limits.max_pixels} pixels",
                field=field,
                limit=limits.max_pixels,
            ) from None
        except Exception:
            w = h = 0
            fmt = ""
        if w * h > limits.max_pixels:
            raise LimitError(
                422,
                f"{what} '{label}' has {w}x{h} = {w * h} pixels, above the limit of {limits.max_pixels}",
                field=field,
                limit=limits.max_pixels,
            )
        try:
            open_image(tmp, limit=limits.max_pixels, what=what).close()  # full decode: truncated, corrupt
        except UnsupportedFormatError as exc:
            raise ApiError(
                415, "unsupported_media_type", str(exc).replace(f"'{tmp}'", f"'{label}'"), field=field
            ) from None
        except ImageError as exc:
            raise ApiError(422, "invalid", str(exc).replace(f"'{tmp}'", f"'{label}'"), field=field) from None
        ext = {
            "JPEG": ".jpg",
            "PNG": ".png",
            "WEBP": ".webp",
            "GIF": ".gif",
            "BMP": ".bmp",
            "TIFF": ".tif",
        }.get(fmt, ".img")
        final = d / f"{stem}{ext}"
        tmp.rename(final)
        return final.name, (h, w)

    @app.get(
        "/v1/jobs", response_model=JobList, tags=["jobs"], summary="List jobs, newest first", responses=ERRORS
    )
    def list_jobs(
        request: Request,
        limit: int = Query(50, ge=1, le=500),
        state: Literal[STATES] | None = Query(None, description="only jobs in this state"),
    ) -> dict[str, Any]:
        p = principal(request)
        return {
            "jobs": [
                job_out(j) for j in queue.list(limit=limit, state=state, owner=None if p.admin else p.owner)
            ]
        }

    @app.get(
        "/v1/jobs/{job_id}",
        response_model=JobOut,
        tags=["jobs"],
        summary="A job's state and progress",
        responses=ERRORS,
    )
    def get(job_id: str, request: Request) -> dict[str, Any]:
        return job_out(get_job(job_id, request))

    @app.delete(
        "/v1/jobs/{job_id}",
        response_model=JobOut,
        tags=["jobs"],
        responses={**ERRORS, 409: {"model": ErrorOut}},
        summary="Cancel a job (a running optimisation stops within a step or two)",
    )
    def cancel(job_id: str, request: Request) -> dict[str, Any]:
        job = get_job(job_id, request)
        if job.final and job.state != CANCELLED:
            raise ApiError(409, "conflict", f"job already {job.state}; nothing to cancel", field="id")
        return job_out(queue.cancel(job_id) or job)

    @app.get(
        "/v1/jobs/{job_id}/preview",
        tags=["jobs"],
        summary="The latest intermediate image (JPEG)",
        responses={200: {"content": {"image/jpeg": {}}}, **ERRORS, 409: {"model": ErrorOut}},
    )
    def preview(job_id: str, request: Request) -> FileResponse:
        job = get_job(job_id, request)
        path = queue.job_dir(job.id) / PREVIEW_NAME
        if not path.is_file():  # as for the result: 409 while one may still come, 404 once none will
            if job.state in (QUEUED, RUNNING):
                raise ApiError(409, "not_ready", f"job is {job.state} and has no preview yet", field="id")
            raise ApiError(404, "not_found", f"job {job.state} without a preview", field="id")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get(
        "/v1/jobs/{job_id}/result",
        tags=["jobs"],
        responses={200: {"content": {"image/png": {}}}, **ERRORS, 409: {"model": ErrorOut}},
        summary="The result image (PNG); a cancelled job's best image so far when it has one",
    )
    def result(job_id: str, request: Request, download: bool = False) -> FileResponse:
        job = get_job(job_id, request)
        path = queue.job_dir(job.id) / job.result if job.result else None
        if path is None or not path.is_file():
            if job.state in (QUEUED, RUNNING):
                raise ApiError(
                    409, "not_ready", f"job is {job.state}; the result is not ready yet", field="id"
                )
            why = f": {job.error}" if job.error else ""
            raise ApiError(404, "not_found", f"job {job.state} without a result{why}", field="id")
        name = f"impasto-{job.kind}-{job.id[:8]}.png"
        return FileResponse(
            path,
            media_type="image/png",
            filename=name if download else None,
            content_disposition_type="attachment" if download else "inline",
        )

    @app.get(
        "/v1/jobs/{job_id}/events",
        tags=["jobs"],
        responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
        summary="Live progress as server-sent events",
        description="Events: `state` (the job, on every state change), `progress` (step, total, losses, "
        "eta), `preview` (a new preview image: its URL with a version), and `end` (the final job) "
        "after which the stream closes.",
    )
    async def events(job_id: str, request: Request) -> StreamingResponse:
        get_job(job_id, request)
        return StreamingResponse(
            event_stream(job_id, request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def event_stream(job_id: str, request: Request):
        n = 0
        last_state, last_progress, last_preview = None, -1, 0
        last_sent = time.monotonic()

        def event(name: str, data: Any) -> str:
            nonlocal n, last_sent
            n += 1
            last_sent = time.monotonic()
            return f"id: {n}\nevent: {name}\ndata: {json.dumps(data)}\n\n"

        yield "retry: 1000\n\n"
        while True:
            job = await anyio.to_thread.run_sync(queue.get, job_id)
            if job is None:
                yield event("end", {"id": job_id, "state": "deleted"})
                return
            out = await anyio.to_thread.run_sync(job_out, job)
            changed = job.state != last_state
            if changed and not job.final:
                yield event("state", out)
            if job.progress_seq != last_progress and out["progress"] is not None:
                yield event("progress", out["progress"])
            last_progress = job.progress_seq
            if job.preview_seq != last_preview and out["has_preview"]:
                yield event(
                    "preview",
                    {"url": f"{out['urls']['preview']}?v={job.preview_seq}", "version": job.preview_seq},
                )
            last_preview = job.preview_seq
            if job.final:
                if changed:
                    yield event("state", out)
                yield event("end", out)
                return
            last_state = job.state
            if await request.is_disconnected():
                return
            if time.monotonic() - last_sent > 15:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"
            await asyncio.sleep(0.2)

    return app


def principal(request: Request) -> Principal:
    """Who made the request (set by :class:`Guard`)."""
    return request.scope.get("state", {}).get("principal") or Principal(ANONYMOUS)


def _valid_id(job_id: str) -> bool:
    return 0 < len(job_id) <= 64 and all(c in "0123456789abcdef" for c in job_id)


def describe_kind(kind: Kind) -> dict[str, Any]:
    return {
        "name": kind.name,
        "title": kind.title,
        "files": [
            {"name": f.name, "what": f.what, "required": f.required, "repeatable": f.repeatable}
            for f in kind.files
        ],
        "params": [p.describe() for p in kind.params().values()],
    }


def request_body(kinds: dict[str, Kind], max_files: int | None = None) -> dict[str, Any]:
    """OpenAPI schema of ``POST /v1/jobs``: every kind's parameters, derived from its config (at most
    ``max_files`` style images)."""
    props: dict[str, Any] = {
        "kind": {"type": "string", "enum": list(kinds), "default": "stylize"},
        "content": {"type": "string", "format": "binary", "description": "content image"},
        "style": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "style image(s)",
        },
        "style_gallery": {
            "type": "array",
            "items": {"type": "string"},
            "description": "name(s) of gallery style images (GET /v1/gallery)",
        },
    }
    for kind in kinds.values():
        for p in kind.params().values():
            entry = props.setdefault(p.name, {**p.describe(), "description": ""})
            entry.pop("name", None)
            entry.pop("doc", None)
            entry["description"] = (entry.get("description", "") + f" [{kind.name}] {p.doc}").strip()
    if max_files is not None:  # the server's --max-styles
        for name in ("style", "style_gallery"):
            props[name]["maxItems"] = max_files
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": props,
                    "required": ["kind"],
                    "additionalProperties": False,
                }
            }
        },
    }
