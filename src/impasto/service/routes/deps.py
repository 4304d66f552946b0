"""What every router shares: the service's state (handed to the routes with ``Depends``), who is asking,
the JSON error shape and the documented error responses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..auth import ANONYMOUS, Authenticator, Principal, RateLimiter
from ..backends import Backends
from ..kinds import Kind
from ..limits import Limits, Settings
from ..storage import Disk
from ..stores import Dispatcher, FileStore, JobStore


@dataclass(frozen=True)
class Service:
    """Everything the routes need, built once by :func:`~impasto.service.app.create_app`."""

    settings: Settings
    backends: Backends
    kinds: dict[str, Kind]
    auth: Authenticator
    limiter: RateLimiter | None
    disk: Disk
    """The data directory's free space (uploads are spooled there)."""
    spool_dir: Path
    """Where multipart uploads are spooled (never the system /tmp)."""
    thumbs_dir: Path
    """Gallery thumbnails."""

    @property
    def limits(self) -> Limits:
        return self.settings.limits


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def get_jobs(request: Request) -> JobStore:
    return get_service(request).backends.jobs


def get_files(request: Request) -> FileStore:
    return get_service(request).backends.files


def get_dispatcher(request: Request) -> Dispatcher:
    return get_service(request).backends.dispatcher


ServiceDep = Annotated[Service, Depends(get_service)]
JobsDep = Annotated[JobStore, Depends(get_jobs)]
FilesDep = Annotated[FileStore, Depends(get_files)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]


def principal(request: Request) -> Principal:
    """Who made the request (set by :class:`~impasto.service.middleware.Guard`)."""
    found: Principal | None = request.scope.get("state", {}).get("principal")
    return found or Principal(ANONYMOUS)


PrincipalDep = Annotated[Principal, Depends(principal)]


class ErrorOut(BaseModel):
    error: str = Field(description="machine-readable code: invalid, too_large, queue_full, not_found, ...")
    detail: str = Field(description="one line a person can act on")
    field: str | None = Field(None, description="the request field at fault")
    limit: float | int | None = Field(None, description="the limit that was exceeded")


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 408, 413, 415, 422, 429, 503)
}
SUBMIT_ERRORS: dict[int | str, dict[str, Any]] = {**ERRORS, 507: {"model": ErrorOut}}


def error_response(
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    limit: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The one JSON error shape of the API: ``{"error", "detail", "field", "limit"}``."""
    body = {"error": code, "detail": detail, "field": field, "limit": limit}
    return JSONResponse(body, status_code=status, headers=headers)


class ApiError(Exception):
    """Raised by a route; answered with :func:`error_response` (the handlers are in :mod:`..app`)."""

    def __init__(
        self, status: int, code: str, detail: str, *, field: str | None = None, limit: float | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.field, self.limit = status, code, field, limit
