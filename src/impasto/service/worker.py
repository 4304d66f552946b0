"""A worker process: takes jobs from the queue one at a time and runs the library pipeline.

Started by ``impasto serve`` as ``python -m impasto.service.worker``; CPU-bound work never runs in
the web process. Progress goes into the queue (throttled), a preview JPEG is written at most every
``preview_interval`` seconds, and a cancel request stops the optimisation at its next step (the
best image so far is kept as the cancelled job's result). SIGTERM/SIGINT put the running job back at
the head of the queue; a SIGKILL leaves it ``running`` until the next start requeues it. A requeued
single-stage optimisation resumes from its last checkpoint (written with each preview); anything
else runs again from the start. A full disk (or free space below ``--min-free-mb``) is no fault of
the job: the worker puts it back in the queue, starts nothing while the disk stays full, and carries
on by itself once space returns.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from ..errors import ImpastoError
from ..images import atomic_write
from .queue import CANCELLED, QUEUED, SUCCEEDED, Job, JobQueue, Progress, SQLiteQueue
from .storage import Disk, is_disk_full

log = logging.getLogger("impasto.service.worker")

PREVIEW_NAME = "preview.jpg"
RESULT_NAME = "result.png"
CHECKPOINT_NAME = "checkpoint.png"  # lossless copy of the latest intermediate (single-stage runs)
CHECKPOINT_META = "checkpoint.json"
PROGRESS_INTERVAL = 0.2  # seconds between progress rows written to the queue


class Shutdown(BaseException):
    """Raised from the progress callback when the worker is asked to stop (the job is requeued)."""


class Reporter:
    """The pipeline callback: records progress, previews and checkpoints; raises on cancel or shutdown."""

    def __init__(
        self,
        queue: JobQueue,
        job: Job,
        job_dir: Path,
        stop: threading.Event,
        preview_interval: float,
        parent: int | None,
    ) -> None:
        self.queue, self.job, self.dir, self.stop = queue, job, job_dir, stop
        self.preview_interval = preview_interval
        self.parent = parent
        self.cancelled = False
        self.last_progress = 0.0
        self.last_preview = 0.0
        self.offset = 0  # steps done before a restart, when resumed from a checkpoint
        self.note = ""

    def __call__(self, event) -> None:
        from ..optimize import Cancelled

        if self.stop.is_set() or (self.parent is not None and os.getppid() != self.parent):
            raise Shutdown()
        now = time.monotonic()
        step, total = int(event.step) + self.offset, int(event.total) + self.offset
        stage = str(event.stage) or self.note
        preview = False
        if event.image is not None and now - self.last_preview >= self.preview_interval:
            from ..images import save_image

            save_image(event.image, self.dir / PREVIEW_NAME, quality=85)
            if not event.stage:  # single-stage runs can resume from here after a crash
                save_image(event.image, self.dir / CHECKPOINT_NAME)
                atomic_write(
                    self.dir / CHECKPOINT_META,
                    lambda fh: fh.write(json.dumps({"step": step, "total": total}).encode()),
                )
            self.last_preview, preview = now, True
        if preview or now - self.last_progress >= PROGRESS_INTERVAL or step >= total:
            progress = Progress(
                step,
                total,
                {k: float(v) for k, v in event.losses.items()},
                float(event.elapsed),
                None if event.eta is None else float(event.eta),
                stage,
            )
            go_on = self.queue.update_progress(self.job.id, progress, preview=preview)
            self.last_progress = now
        else:
            go_on = not self.queue.cancel_requested(self.job.id)
        if not go_on:
            self.cancelled = True
            raise Cancelled()


def resume_point(config, job_dir: Path) -> int | None:
    """Steps already done by an interrupted run whose checkpoint this config can start from, else None.

    Only single-stage optimisations (a config with ``init`` and ``iters``, one scale) resume: the
    checkpoint becomes the starting image and the remaining iterations run (L-BFGS starts its
    curvature history afresh). Everything else is simply run again."""
    meta = job_dir / CHECKPOINT_META
    if not (
        hasattr(config, "init")
        and hasattr(config, "iters")
        and meta.is_file()
        and (job_dir / CHECKPOINT_NAME).is_file()
    ):
        return None
    if hasattr(config, "sizes") and len(config.sizes()) != 1:
        return None
    try:
        point = json.loads(meta.read_text())
        step, total = int(point["step"]), int(point["total"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return step if total == config.iters and 0 < step < total else None


def run_job(
    queue: JobQueue,
    kinds: dict,
    job: Job,
    *,
    stop: threading.Event,
    preview_interval: float = 1.0,
    parent: int | None = None,
) -> str:
    """Run one claimed job to a final state (or requeue it on shutdown); returns the state."""
    from ..images import save_image
    from ..optimize import Cancelled
    from .kinds import params_to_config

    d = queue.job_dir(job.id)
    kind = kinds.get(job.kind)
    if kind is None:
        queue.fail(job.id, f"kind '{job.kind}' is not available on this server")
        return "failed"
    reporter = Reporter(queue, job, d, stop, preview_interval, parent)
    try:
        config = params_to_config(kind, job.params)
        done = resume_point(config, d) if job.attempts > 1 else None
        if done is not None:
            config = dataclasses.replace(config, init=str(d / CHECKPOINT_NAME), iters=config.iters - done)
            reporter.offset, reporter.note = done, f"resumed at step {done}"
            log.info("job %s resumes at step %d", job.id, done)
        paths = {name: [d / f for f in files] for name, files in job.inputs.items()}
        outcome = kind.run(config, paths, reporter)
    except Shutdown:
        queue.requeue(job.id)
        log.info("job %s requeued (worker stopping)", job.id)
        return "queued"
    except Cancelled:  # a pipeline that does not keep its best image on cancel
        queue.finish(job.id, state=CANCELLED)
        return CANCELLED
    except ImpastoError as exc:
        if is_disk_full(exc):  # e.g. the preview or checkpoint could not be written
            return requeue_when_possible(queue, job, stop)
        queue.fail(job.id, str(exc))
        return "failed"
    except MemoryError:
        queue.fail(job.id, "out of memory; try a smaller size")
        return "failed"
    except Exception as exc:
        if is_disk_full(exc):  # e.g. SQLite could not record the progress: not the job's fault
            return requeue_when_possible(queue, job, stop)
        log.error("job %s failed:\n%s", job.id, traceback.format_exc())
        queue.fail(job.id, f"internal error: {type(exc).__name__}: {exc}")
        return "failed"
    cancelled = reporter.cancelled or outcome.interrupted
    try:
        save_image(outcome.image, d / RESULT_NAME, alpha=outcome.alpha)
    except ImpastoError as exc:
        if is_disk_full(exc):
            return requeue_when_possible(queue, job, stop)
        queue.fail(job.id, str(exc))
        return "failed"
    for name in (CHECKPOINT_NAME, CHECKPOINT_META):
        (d / name).unlink(missing_ok=True)
    state = CANCELLED if cancelled else SUCCEEDED
    queue.finish(job.id, state=state, result=RESULT_NAME)
    return state


def requeue_when_possible(queue: JobQueue, job: Job, stop: threading.Event, *, wait: float = 1.0) -> str:
    """Put a job that ran out of disk space back at the head of the queue (not counted as a try),
    retrying while the database itself cannot be written; returns the state it is left in."""
    while True:
        try:
            queue.requeue(job.id)
            log.warning("job %s requeued: the disk is full", job.id)
            return QUEUED
        except Exception as exc:
            if not is_disk_full(exc) or stop.is_set():
                raise  # the worker exits; the server requeues the job when it restarts it
            stop.wait(wait)


def work(
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

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    queue = SQLiteQueue(data_dir)
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
            job = queue.claim_next(worker_id)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            stop.wait(max(poll, 1.0))
            continue
        if job is None:
            stop.wait(poll)
            continue
        log.info("job %s (%s) started", job.id, job.kind)
        state = run_job(queue, kinds, job, stop=stop, preview_interval=preview_interval, parent=parent)
        log.info("job %s %s", job.id, state)
    queue.close()


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
    work(
        args.data_dir,
        args.id,
        preview_interval=args.preview_interval,
        parent=args.parent,
        min_free_mb=args.min_free_mb,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
