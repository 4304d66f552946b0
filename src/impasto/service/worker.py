"""A worker: takes jobs one at a time and runs the library pipeline.

Started by ``impasto serve`` as ``python -m impasto.service.worker`` (the local dispatcher); CPU-bound
work never runs in the web process. The worker reaches the job and its files only through the job store
and the file store (:mod:`.stores`), built by :func:`.backends.build`. While a job runs, a heartbeat
thread renews its lease; a worker that loses the lease (it was presumed dead and the job went to another
worker) stops at the next step and leaves the job alone. Progress goes into the job store (throttled), a
preview JPEG into the file store at most every ``preview_interval`` seconds, and a cancel request stops
the optimisation at its next step (the best image so far is kept as the cancelled job's result).
SIGTERM/SIGINT put the running job back at the head of the queue; a SIGKILL leaves it ``running`` until
its lease expires or the server requeues it. A requeued single-stage optimisation resumes from its last
checkpoint (stored with each preview); anything else runs again from the start. A full disk (or free
space below ``--min-free-mb``) is no fault of the job: the worker puts it back in the queue, starts
nothing while the disk stays full, and carries on by itself once space returns.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from ..errors import ImpastoError
from .backends import Backends, build
from .limits import Settings
from .storage import Disk, is_disk_full
from .stores import CANCELLED, FAILED, HEARTBEAT, LEASE, QUEUED, SUCCEEDED, Job, JobStore, Progress

log = logging.getLogger("impasto.service.worker")

PREVIEW_NAME = "preview.jpg"
RESULT_NAME = "result.png"
CHECKPOINT_NAME = "checkpoint.png"  # lossless copy of the latest intermediate (single-stage runs)
CHECKPOINT_META = "checkpoint.json"
PROGRESS_INTERVAL = 0.2  # seconds between progress rows written to the job store
LOST = "lost"  # what run_job returns when another worker took the job over


class Shutdown(BaseException):
    """Raised from the progress callback when the worker is asked to stop (the job is requeued)."""


class Lost(BaseException):
    """Raised from the progress callback when this worker no longer holds the job's lease."""


class Heartbeat:
    """Renews a running job's lease every ``every`` seconds in a daemon thread; ``lost`` is set once the
    store says this worker no longer holds it. A store that cannot be reached is retried at each beat (the
    lease may expire meanwhile: then the next renewal reports the loss)."""

    def __init__(
        self, jobs: JobStore, job_id: str, worker: str, *, every: float = HEARTBEAT, lease: float = LEASE
    ) -> None:
        self.jobs, self.job_id, self.worker, self.every, self.lease = jobs, job_id, worker, every, lease
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"impasto-lease-{job_id[:8]}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.every + 35.0)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    held = self.jobs.renew(self.job_id, self.worker, lease=self.lease)
                except Exception as exc:
                    log.warning(
                        "job %s: cannot renew the lease (%s: %s)", self.job_id, type(exc).__name__, exc
                    )
                    continue
                if not held:
                    self.lost.set()
                    return
        finally:
            self.jobs.close()  # this thread's connection


class Reporter:
    """The pipeline callback: records progress, previews and checkpoints; raises on cancel, shutdown or
    a lost lease."""

    def __init__(
        self,
        backends: Backends,
        job: Job,
        worker: str,
        scratch: Path,
        stop: threading.Event,
        heartbeat: Heartbeat,
        preview_interval: float,
        parent: int | None,
    ) -> None:
        self.jobs, self.files, self.job, self.worker = backends.jobs, backends.files, job, worker
        self.scratch, self.stop, self.heartbeat = scratch, stop, heartbeat
        self.preview_interval = preview_interval
        self.parent = parent
        self.cancelled = False
        self.last_progress = 0.0
        self.last_preview = 0.0
        self.offset = 0  # steps done before a restart, when resumed from a checkpoint
        self.note = ""

    def holds(self) -> bool:
        """Whether this worker still holds the job (renewing its lease to make sure)."""
        return not self.heartbeat.lost.is_set() and self.jobs.renew(
            self.job.id, self.worker, lease=self.heartbeat.lease
        )

    def store_image(self, image: Any, name: str, **kw: Any) -> None:
        """Write ``image`` into the scratch directory, then move it into the file store as ``name``."""
        from ..output import save_image

        path = save_image(image, self.scratch / name, **kw)
        self.files.put(self.job.id, name, path)

    def __call__(self, event: Any) -> None:
        from ..optimize import Cancelled

        if self.stop.is_set() or (self.parent is not None and os.getppid() != self.parent):
            raise Shutdown()
        if self.heartbeat.lost.is_set():
            raise Lost()
        now = time.monotonic()
        step, total = int(event.step) + self.offset, int(event.total) + self.offset
        stage = str(event.stage) or self.note
        note = str(getattr(event, "note", ""))  # e.g. "converged at 212": shown with the stage
        stage = f"{stage} ({note})" if stage and note else (stage or note)
        preview = False
        if event.image is not None and now - self.last_preview >= self.preview_interval:
            self.store_image(event.image, PREVIEW_NAME, quality=85)
            if not event.stage:  # single-stage runs can resume from here after a crash
                self.store_image(event.image, CHECKPOINT_NAME)
                meta = json.dumps({"step": step, "total": total}).encode()
                self.files.put(self.job.id, CHECKPOINT_META, meta)
            self.last_preview, preview = now, True
        if preview or now - self.last_progress >= PROGRESS_INTERVAL or step >= total or note:
            progress = Progress(
                step,
                total,
                {k: float(v) for k, v in event.losses.items()},
                float(event.elapsed),
                None if event.eta is None else float(event.eta),
                stage,
            )
            go_on = self.jobs.update_progress(self.job.id, progress, preview=preview, worker=self.worker)
            self.last_progress = now
        else:
            go_on = not self.jobs.cancel_requested(self.job.id)
        if not go_on:
            if not self.holds():
                raise Lost()
            self.cancelled = True
            raise Cancelled()


def resume_point(config: Any, backends: Backends, job_id: str) -> int | None:
    """Steps already done by an interrupted run whose checkpoint this config can start from, else None.

    Only single-stage optimisations (a config with ``init`` and ``iters``, one scale) resume: the
    checkpoint becomes the starting image and the remaining iterations run (L-BFGS starts its
    curvature history afresh). Everything else is simply run again."""
    if not (hasattr(config, "init") and hasattr(config, "iters")):
        return None
    if hasattr(config, "sizes") and len(config.sizes()) != 1:
        return None
    meta = backends.files.get(job_id, CHECKPOINT_META)
    if meta is None or not backends.files.exists(job_id, CHECKPOINT_NAME):
        return None
    try:
        point = json.loads(meta)
        step, total = int(point["step"]), int(point["total"])
    except (ValueError, KeyError, TypeError):
        return None
    return step if total == config.iters and 0 < step < total else None


def run_job(
    backends: Backends,
    kinds: dict[str, Any],
    job: Job,
    *,
    worker: str,
    stop: threading.Event,
    preview_interval: float = 1.0,
    parent: int | None = None,
    scratch_root: Path | None = None,
    heartbeat: float = HEARTBEAT,
    lease: float = LEASE,
) -> str:
    """Run one job claimed by ``worker`` to a final state (or requeue it on shutdown, or leave it alone
    when another worker took it over); returns the state it is left in (or :data:`LOST`). Scratch files
    go in a temporary directory under ``scratch_root`` (the file store's file system, ideally)."""
    jobs = backends.jobs
    if scratch_root is not None:
        scratch_root.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix=f"job-{job.id[:8]}-", dir=scratch_root) as scratch,
        Heartbeat(jobs, job.id, worker, every=heartbeat, lease=lease) as beat,
    ):
        state = _run(backends, kinds, job, worker, Path(scratch), stop, beat, preview_interval, parent)
    if state == QUEUED:
        backends.dispatcher.dispatch(job.id)
    return state


def _run(
    backends: Backends,
    kinds: dict[str, Any],
    job: Job,
    worker: str,
    scratch: Path,
    stop: threading.Event,
    beat: Heartbeat,
    preview_interval: float,
    parent: int | None,
) -> str:
    from ..optimize import Cancelled
    from .kinds import params_to_config

    jobs, files = backends.jobs, backends.files
    kind = kinds.get(job.kind)
    if kind is None:
        jobs.fail(job.id, f"kind '{job.kind}' is not available on this server", worker=worker)
        return FAILED
    reporter = Reporter(backends, job, worker, scratch, stop, beat, preview_interval, parent)
    try:
        config = params_to_config(kind, job.params)
        done = resume_point(config, backends, job.id) if job.attempts > 1 else None
        checkpoint = files.path(job.id, CHECKPOINT_NAME) if done is not None else None
        if done is not None and checkpoint is not None:
            config = dataclasses.replace(config, init=str(checkpoint), iters=config.iters - done)
            reporter.offset, reporter.note = done, f"resumed at step {done}"
            log.info("job %s resumes at step %d", job.id, done)
        paths = {}
        for name, names in job.inputs.items():
            paths[name] = [files.path(job.id, f) for f in names]
            if any(p is None for p in paths[name]):
                jobs.fail(job.id, f"the job's {name} file is missing from the file store", worker=worker)
                return FAILED
        outcome = kind.run(config, paths, reporter)
    except Shutdown:
        jobs.requeue(job.id, worker=worker)
        log.info("job %s requeued (worker stopping)", job.id)
        return QUEUED
    except Lost:
        log.warning("job %s: lease lost to another worker; left alone", job.id)
        return LOST
    except Cancelled:  # a pipeline that does not keep its best image on cancel
        jobs.finish(job.id, state=CANCELLED, worker=worker)
        return CANCELLED
    except ImpastoError as exc:
        if is_disk_full(exc):  # e.g. the preview or checkpoint could not be written
            return requeue_when_possible(jobs, job, stop, worker=worker)
        jobs.fail(job.id, str(exc), worker=worker)
        return FAILED
    except MemoryError:
        jobs.fail(job.id, "out of memory; try a smaller size", worker=worker)
        return FAILED
    except Exception as exc:
        if is_disk_full(exc):  # e.g. SQLite could not record the progress: not the job's fault
            return requeue_when_possible(jobs, job, stop, worker=worker)
        log.error("job %s failed:\n%s", job.id, traceback.format_exc())
        jobs.fail(job.id, f"internal error: {type(exc).__name__}: {exc}", worker=worker)
        return FAILED
    if not reporter.holds():
        log.warning("job %s: lease lost to another worker; result dropped", job.id)
        return LOST
    cancelled = reporter.cancelled or outcome.interrupted
    try:
        reporter.store_image(outcome.image, RESULT_NAME, alpha=outcome.alpha)
    except (ImpastoError, OSError) as exc:
        if is_disk_full(exc):
            return requeue_when_possible(jobs, job, stop, worker=worker)
        jobs.fail(job.id, str(exc), worker=worker)
        return FAILED
    for name in (CHECKPOINT_NAME, CHECKPOINT_META):
        files.delete(job.id, name)
    state = CANCELLED if cancelled else SUCCEEDED
    if not jobs.finish(job.id, state=state, result=RESULT_NAME, worker=worker):
        log.warning("job %s: no longer held by this worker; its end was not recorded", job.id)
        return LOST
    return state


def requeue_when_possible(
    jobs: JobStore, job: Job, stop: threading.Event, *, worker: str | None = None, wait: float = 1.0
) -> str:
    """Put a job that ran out of disk space back at the head of the queue (not counted as a try),
    retrying while the database itself cannot be written; returns the state it is left in."""
    while True:
        try:
            jobs.requeue(job.id, worker=worker)
            log.warning("job %s requeued: the disk is full", job.id)
            return QUEUED
        except Exception as exc:
            if not is_disk_full(exc) or stop.is_set():
                raise  # the worker exits; the server requeues the job when it restarts it
            stop.wait(wait)


def work(
    backends: Backends,
    data_dir: Path,
    worker_id: str,
    *,
    preview_interval: float = 1.0,
    parent: int | None = None,
    poll: float = 0.2,
    min_free_mb: float = 0.0,
) -> None:
    """Claim and run jobs until SIGTERM/SIGINT or the parent process goes away; start none while the
    data directory has less than ``min_free_mb`` free."""
    from .kinds import load_kinds

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    kinds = load_kinds()
    disk = Disk(data_dir, min_free_mb)
    log.info("worker %s ready (kinds: %s)", worker_id, ", ".join(kinds))
    waiting = None
    while not stop.is_set():
        if parent is not None and os.getppid() != parent:
            break
        if (problem := disk.problem()) is not None:
            if waiting is None:
                log.warning("waiting for disk space: %s", problem)
            waiting = problem
            stop.wait(max(poll, 1.0))
            continue
        waiting = None
        try:
            job = backends.jobs.claim_next(worker_id)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            stop.wait(max(poll, 1.0))
            continue
        if job is None:
            stop.wait(poll)
            continue
        log.info("job %s (%s) started", job.id, job.kind)
        state = run_job(
            backends,
            kinds,
            job,
            worker=worker_id,
            stop=stop,
            preview_interval=preview_interval,
            parent=parent,
            scratch_root=data_dir / "tmp",
        )
        log.info("job %s %s", job.id, state)
    backends.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m impasto.service.worker")
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--id", required=True)
    p.add_argument("--preview-interval", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--parent", type=int, default=None)
    p.add_argument("--min-free-mb", type=float, default=0.0)
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s worker {args.id}: %(message)s", stream=sys.stderr
    )
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    backends = build(Settings(data_dir=args.data_dir, min_free_mb=args.min_free_mb), role="worker")
    work(
        backends,
        args.data_dir,
        args.id,
        preview_interval=args.preview_interval,
        parent=args.parent,
        min_free_mb=args.min_free_mb,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
