"""What the server does in the background, on any backend: re-dispatch the jobs whose worker stopped
renewing its lease, and delete finished jobs (records and files) after the retention period, with the
files of uploads whose job was never recorded (refused, or the server died mid-submit)."""

from __future__ import annotations

import logging
import threading
import time

from .backends import Backends

log = logging.getLogger("impasto.service")

CLEANUP_EVERY = 600.0  # seconds between retention sweeps (at most)
EXPIRY_EVERY = 1.0  # seconds between looks for expired leases
ORPHAN_AGE = 3600.0  # seconds after which the files of a job never recorded are deleted


def requeue_expired(backends: Backends) -> list[str]:
    """Jobs whose lease expired go back to the queue (or fail after their last attempt), each
    dispatched again; returns their ids."""
    ids = backends.jobs.requeue_expired()
    for job_id in ids:
        log.warning("job %s: its worker stopped renewing the lease; dispatched again", job_id)
        backends.dispatcher.dispatch(job_id)
    return ids


def sweep(backends: Backends, retention: float, *, now: float | None = None) -> int:
    """Delete the final jobs older than ``retention`` seconds and orphaned uploads; returns how many
    jobs were deleted."""
    now = time.time() if now is None else now
    deleted = backends.jobs.cleanup(retention, now=now)
    for job_id in deleted:
        backends.files.delete_job(job_id)
    for job_id in backends.files.job_ids(older_than=ORPHAN_AGE, now=now):
        if backends.jobs.get(job_id) is None:
            backends.files.delete_job(job_id)
    return len(deleted)


class Housekeeper:
    """A daemon thread running :func:`requeue_expired` every second and :func:`sweep` now and then; it
    survives any exception (a full disk, an unreachable backend): it tries again at the next turn."""

    def __init__(self, backends: Backends, retention: float) -> None:
        self.backends, self.retention = backends, retention
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="impasto-housekeeping", daemon=True)
        self.cleanup_every = min(CLEANUP_EVERY, max(5.0, retention / 4))

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(5.0)

    def _run(self) -> None:
        last_cleanup = time.monotonic()
        while not self.stopping.wait(EXPIRY_EVERY):
            try:
                requeue_expired(self.backends)
            except Exception:
                log.exception("lease check failed; retrying")
            if time.monotonic() - last_cleanup > self.cleanup_every:
                last_cleanup = time.monotonic()
                try:
                    n = sweep(self.backends, self.retention)
                    if n:
                        log.info("retention: deleted %d finished job(s)", n)
                except Exception:
                    log.exception("retention sweep failed")
