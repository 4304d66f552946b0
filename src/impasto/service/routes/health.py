"""``GET /healthz``: liveness, with the reason when the service is degraded."""

from __future__ import annotations

import sqlite3
from typing import Any

from fastapi import APIRouter

from ... import __version__
from ..stores import QUEUED, BackendUnavailable
from .deps import ServiceDep

router = APIRouter(tags=["service"])


@router.get(
    "/healthz",
    summary="Liveness: no API key needed",
    description="`status` is `ok`, or `degraded` with a `reason` (a full disk: submissions get 507 "
    "and workers wait until space returns; no worker running; the job store unreachable). `workers`: "
    "worker processes alive (the scale-out backend: workers seen in the last minute); `pending`: jobs "
    "queued or running; `queued`: jobs waiting for a worker.",
)
def healthz(service: ServiceDep) -> dict[str, Any]:
    alive = service.backends.dispatcher.workers_alive()
    reasons = [r for r in (service.disk.problem(),) if r is not None]
    pending: int | None
    queued: int | None = None
    try:
        pending = service.backends.jobs.pending()
        queued = len(service.backends.jobs.list(limit=service.limits.max_queue + 1, state=QUEUED))
    except BackendUnavailable as exc:
        pending = None
        reasons.append(str(exc))
    except sqlite3.Error as exc:  # the SQLite store's own errors (a damaged or locked database)
        pending = None
        reasons.append(f"queue database: {exc}")
    if alive == 0:
        reasons.append("no worker running")
    body: dict[str, Any] = {
        "status": "degraded" if reasons else "ok",
        "version": __version__,
        "workers": alive,
        "pending": pending,
        "queued": queued,
        "kinds": list(service.kinds),
    }
    if reasons:
        body["reason"] = "; ".join(reasons)
    return body
