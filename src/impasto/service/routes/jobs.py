"""A job once submitted: list, state and progress, cancel, preview, result, live events (SSE). Submission
is in :mod:`.submit`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field

from ..auth import Principal
from ..stores import CANCELLED, QUEUED, RUNNING, STATES, Job, valid_id
from ..worker import PREVIEW_NAME
from .deps import ERRORS, ApiError, ErrorOut, PrincipalDep, Service, ServiceDep

router = APIRouter(tags=["jobs"])


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


def job_out(service: Service, job: Job) -> dict[str, Any]:
    """A job as the API shows it (:class:`JobOut`)."""
    jobs, files = service.backends.jobs, service.backends.files
    base = f"/v1/jobs/{job.id}"
    p = job.progress
    position = None
    if job.state == QUEUED:
        position = sum(
            1
            for j in jobs.list(limit=service.limits.max_queue + 1000, state=QUEUED)
            if j.created_at < job.created_at
        )
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
        "has_preview": files.exists(job.id, PREVIEW_NAME),
        "has_result": bool(job.result) and files.exists(job.id, job.result or ""),
        "urls": {
            "self": base,
            "events": f"{base}/events",
            "preview": f"{base}/preview",
            "result": f"{base}/result",
        },
    }


def get_job(service: Service, job_id: str, who: Principal) -> Job:
    """The job, when it exists and ``who`` may see it; 404 otherwise (another owner's job: as if none)."""
    job = service.backends.jobs.get(job_id) if valid_id(job_id) else None
    if job is None or not who.sees(job.owner):
        raise ApiError(
            404,
            "not_found",
            f"no job with id '{job_id}' (finished jobs are kept for a while, then deleted)",
            field="id",
        )
    return job


@router.get("/v1/jobs", response_model=JobList, summary="List jobs, newest first", responses=ERRORS)
def list_jobs(
    service: ServiceDep,
    who: PrincipalDep,
    limit: int = Query(50, ge=1, le=500),
    state: Literal[STATES] | None = Query(None, description="only jobs in this state"),  # type: ignore[valid-type]  # a Literal of the states tuple: FastAPI needs it at run time
) -> dict[str, Any]:
    listed = service.backends.jobs.list(limit=limit, state=state, owner=None if who.admin else who.owner)
    return {"jobs": [job_out(service, j) for j in listed]}


@router.get(
    "/v1/jobs/{job_id}", response_model=JobOut, summary="A job's state and progress", responses=ERRORS
)
def get(job_id: str, service: ServiceDep, who: PrincipalDep) -> dict[str, Any]:
    return job_out(service, get_job(service, job_id, who))


@router.delete(
    "/v1/jobs/{job_id}",
    response_model=JobOut,
    responses={**ERRORS, 409: {"model": ErrorOut}},
    summary="Cancel a job (a running optimisation stops within a step or two)",
)
def cancel(job_id: str, service: ServiceDep, who: PrincipalDep) -> dict[str, Any]:
    job = get_job(service, job_id, who)
    if job.final and job.state != CANCELLED:
        raise ApiError(409, "conflict", f"job already {job.state}; nothing to cancel", field="id")
    after = service.backends.jobs.cancel(job_id) or job
    if job.state == QUEUED and after.state == CANCELLED:
        service.backends.dispatcher.revoke(job_id)
    return job_out(service, after)


@router.get(
    "/v1/jobs/{job_id}/preview",
    summary="The latest intermediate image (JPEG)",
    responses={200: {"content": {"image/jpeg": {}}}, **ERRORS, 409: {"model": ErrorOut}},
)
def preview(job_id: str, service: ServiceDep, who: PrincipalDep) -> FileResponse:
    job = get_job(service, job_id, who)
    path = service.backends.files.path(job.id, PREVIEW_NAME)
    if path is None:  # as for the result: 409 while one may still come, 404 once none will
        if job.state in (QUEUED, RUNNING):
            raise ApiError(409, "not_ready", f"job is {job.state} and has no preview yet", field="id")
        raise ApiError(404, "not_found", f"job {job.state} without a preview", field="id")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get(
    "/v1/jobs/{job_id}/result",
    responses={200: {"content": {"image/png": {}}}, **ERRORS, 409: {"model": ErrorOut}},
    summary="The result image (PNG); a cancelled job's best image so far when it has one",
)
def result(job_id: str, service: ServiceDep, who: PrincipalDep, download: bool = False) -> FileResponse:
    job = get_job(service, job_id, who)
    path = service.backends.files.path(job.id, job.result) if job.result else None
    if path is None:
        if job.state in (QUEUED, RUNNING):
            raise ApiError(409, "not_ready", f"job is {job.state}; the result is not ready yet", field="id")
        why = f": {job.error}" if job.error else ""
        raise ApiError(404, "not_found", f"job {job.state} without a result{why}", field="id")
    name = f"impasto-{job.kind}-{job.id[:8]}.png"
    return FileResponse(
        path,
        media_type="image/png",
        filename=name if download else None,
        content_disposition_type="attachment" if download else "inline",
    )


@router.get(
    "/v1/jobs/{job_id}/events",
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
    summary="Live progress as server-sent events",
    description="Events: `state` (the job, on every state change), `progress` (step, total, losses, "
    "eta), `preview` (a new preview image: its URL with a version), and `end` (the final job) "
    "after which the stream closes.",
)
async def events(job_id: str, request: Request, service: ServiceDep, who: PrincipalDep) -> StreamingResponse:
    await anyio.to_thread.run_sync(get_job, service, job_id, who)
    return StreamingResponse(
        event_stream(service, job_id, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def event_stream(service: Service, job_id: str, request: Request) -> AsyncIterator[str]:
    n = 0
    last_state: str | None = None
    last_progress, last_preview = -1, 0
    last_sent = time.monotonic()

    def event(name: str, data: Any) -> str:
        nonlocal n, last_sent
        n += 1
        last_sent = time.monotonic()
        return f"id: {n}\nevent: {name}\ndata: {json.dumps(data)}\n\n"

    yield "retry: 1000\n\n"
    while True:
        job = await anyio.to_thread.run_sync(service.backends.jobs.get, job_id)
        if job is None:
            yield event("end", {"id": job_id, "state": "deleted"})
            return
        out = await anyio.to_thread.run_sync(job_out, service, job)
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
