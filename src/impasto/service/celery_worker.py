"""``impasto worker --redis URL``: one Celery worker that runs jobs from the scale-out backend, on any
machine. It needs nothing but the URL and the installed package: the job, its inputs and its outputs
travel through Redis (:mod:`.redis_jobs`, :mod:`.redis_files`); the VGG-19 weights it fetches itself.

A delivery (:func:`run_delivery`) takes the job with :meth:`~impasto.service.stores.JobStore.claim` —
dropped when the job is final or its lease is live elsewhere — and runs it through the same
:func:`~impasto.service.worker.run_job` as the local workers: a heartbeat renews the lease, progress and
previews reach the API at most once a second, a cancel stops it at its next step, a checkpoint lets a
redelivered job resume. A second thread (:class:`Watchman`) stamps the worker as alive and looks for
expired leases of other workers, dispatching their jobs again. SIGTERM (or Ctrl-C) puts the running job
back at the head of the queue, dispatched again, before the worker exits; a SIGKILL leaves it to the
lease. While Redis is away the worker waits (a running job keeps going for up to one lease) and
reconnects by itself.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends import Backends
from .celery_dispatch import CeleryDispatcher, stamp_worker
from .redis_backend import PREFIX, redis_backends
from .redis_client import connect, display_url, ping, translate
from .redis_files import RedisFileStore
from .stores import HEARTBEAT, LEASE, BackendUnavailable

log = logging.getLogger("impasto.worker")

LOCAL_NICE = 10  # niceness of the workers `impasto serve --redis URL --workers N` starts beside the API
PROGRESS_EVERY = 1.0  # seconds between progress writes of a running job (previews: --preview-interval)


@dataclass(frozen=True)
class WorkerContext:
    """What every delivery in this process runs with (built once by :func:`start`)."""

    name: str
    backends: Backends
    kinds: dict[str, Any]
    stop: threading.Event
    lease: float = LEASE
    preview_interval: float = 1.0
    parent: int | None = None
    scratch: Path | None = None


_context: WorkerContext | None = None


def run_delivery(job_id: str) -> None:
    """The body of the ``impasto.run`` task: claim the job, run it, log one line."""
    from .worker import run_job

    ctx = _context
    if ctx is None:
        raise RuntimeError("impasto.run needs a worker started by `impasto worker`")
    job = ctx.backends.jobs.claim(job_id, ctx.name, lease=ctx.lease)
    if job is None:
        log.debug("job %s: delivery dropped (final, or running under a live lease)", job_id)
        return
    started = time.monotonic()
    try:
        state = run_job(
            ctx.backends,
            ctx.kinds,
            job,
            worker=ctx.name,
            stop=ctx.stop,
            preview_interval=ctx.preview_interval,
            parent=ctx.parent,
            scratch_root=ctx.scratch,
            heartbeat=min(HEARTBEAT, ctx.lease / 3),
            lease=ctx.lease,
        )
    finally:
        files = ctx.backends.files
        if isinstance(files, RedisFileStore):
            files.forget(job_id)  # the local copies of its inputs
    attempt = f", attempt {job.attempts}" if job.attempts > 1 else ""
    log.info("job %s (%s) %s in %.1f s%s", job_id, job.kind, state, time.monotonic() - started, attempt)


class Watchman:
    """Every ``every`` seconds: stamp this worker as alive, and dispatch again the jobs whose worker
    stopped renewing its lease (any worker may notice; the job store hands each to one of them) and the
    queued jobs whose message was lost (:meth:`CeleryDispatcher.redispatch_orphans`). Exits
    the worker (SIGTERM to itself) when its parent, if it has one, is gone."""

    def __init__(self, ctx: WorkerContext, url: str, prefix: str, every: float) -> None:
        self.ctx, self.url, self.prefix, self.every = ctx, url, prefix, every
        self.client = connect(url)
        self.thread = threading.Thread(target=self._run, name="impasto-watchman", daemon=True)
        self.away: str | None = None

    def start(self) -> None:
        self.thread.start()

    def beat(self) -> None:
        with translate(self.url):
            stamp_worker(self.client, self.prefix, self.ctx.name)
        dispatcher = self.ctx.backends.dispatcher
        for job_id in self.ctx.backends.jobs.requeue_expired():
            log.warning("job %s: its worker stopped renewing the lease; dispatched again", job_id)
            dispatcher.dispatch(job_id)
        if isinstance(dispatcher, CeleryDispatcher):
            for job_id in dispatcher.redispatch_orphans(older_than=self.ctx.lease):
                log.warning("job %s: queued without a message in the broker; dispatched again", job_id)

    def _run(self) -> None:
        while not self.ctx.stop.wait(self.every):
            if self.ctx.parent is not None and os.getppid() != self.ctx.parent:
                os.kill(os.getpid(), signal.SIGTERM)  # the server that started this worker is gone
                return
            try:
                self.beat()
            except BackendUnavailable as exc:
                if self.away is None:
                    log.warning("Redis unreachable (%s); retrying", exc.detail)
                self.away = exc.detail
                continue
            except Exception:
                log.exception("watchman: unexpected error; retrying")
                continue
            if self.away is not None:
                log.info("Redis reachable again")
                self.away = None


def start(
    url: str,
    *,
    name: str | None = None,
    threads: int = 0,
    lease: float = LEASE,
    preview_interval: float = 1.0,
    parent: int | None = None,
    prefix: str = PREFIX,
) -> None:
    """Run one worker until SIGTERM/SIGINT: fetch the weights, then take deliveries one at a time."""
    global _context
    from celery import signals

    from .. import weights
    from .celery_app import QUEUE
    from .kinds import load_kinds

    ping(url)  # unreachable at start: one line naming the URL (ImpastoError → exit 2)
    if parent is not None:  # a local worker of `impasto serve`: the web process beside it stays responsive
        os.nice(LOCAL_NICE)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    weights.fetch()
    name = name or f"{socket.gethostname()}-{os.getpid()}"
    backends = redis_backends(
        url, prefix=prefix, patience=lease, progress_interval=PROGRESS_EVERY, lease=lease
    )
    stop = threading.Event()
    ctx = WorkerContext(
        name=name,
        backends=backends,
        kinds=load_kinds(),
        stop=stop,
        lease=lease,
        preview_interval=preview_interval,
        parent=parent,
    )
    _context = ctx

    @signals.setup_logging.connect(weak=False)
    def _keep_logging(**_: Any) -> None:  # a receiver here keeps Celery off the root logger: ours stays
        pass

    @signals.worker_shutting_down.connect(weak=False)
    def _shutting_down(**_: Any) -> None:  # SIGTERM/SIGINT: the running job stops at its next step
        stop.set()

    watchman = Watchman(ctx, url, prefix, min(HEARTBEAT, lease / 3))
    watchman.beat()
    watchman.start()
    dispatcher = backends.dispatcher
    assert isinstance(dispatcher, CeleryDispatcher)
    log.info("worker %s ready on %s (kinds: %s)", name, display_url(url), ", ".join(ctx.kinds))
    worker = dispatcher.app.Worker(
        hostname=f"impasto@{name}",
        pool="solo",  # the job runs in this process: SIGTERM reaches it, SIGKILL ends it (the lease recovers)
        concurrency=1,
        queues=[QUEUE],
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
        quiet=True,
    )
    try:
        worker.start()
    finally:
        stop.set()
        backends.close()
    code = getattr(worker, "exitcode", 0) or 0
    if code:
        sys.exit(code)
