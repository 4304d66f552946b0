"""The local dispatcher (:class:`~impasto.service.stores.Dispatcher`), the embedded default: N worker
processes on this machine (``python -m impasto.service.worker``) that claim jobs from the job store in
turn, so a dispatch is a no-op. A worker that dies while the server runs is restarted and its job
requeued at once (failed after three tries, so one poisonous job cannot loop forever); the watcher
survives any exception (a full disk included: it retries each second).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from .limits import Settings
from .stores import JobStore

log = logging.getLogger("impasto.service")


def stop_processes(procs: Iterable[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM every live process, wait for all of them up to ``timeout`` seconds in total, then SIGKILL
    the stragglers (the local workers of both dispatchers)."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class LocalDispatcher:
    """Starts, watches and stops the worker processes."""

    def __init__(self, settings: Settings, jobs: JobStore) -> None:
        self.settings, self.jobs = settings, jobs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="impasto-workers", daemon=True)
        self.threads = settings.threads or max(1, (os.cpu_count() or 1) // settings.workers)

    def _spawn(self, worker_id: str) -> subprocess.Popen[bytes]:
        cmd = [
            sys.executable,
            "-m",
            "impasto.service.worker",
            "--data-dir",
            str(self.settings.data_dir),
            "--id",
            worker_id,
            "--preview-interval",
            str(self.settings.preview_interval),
            "--threads",
            str(self.threads),
            "--parent",
            str(os.getpid()),
            "--min-free-mb",
            str(self.settings.min_free_mb),
        ]
        work_dir = Path(self.settings.data_dir) / "tmp"
        work_dir.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(cmd, cwd=work_dir, stdin=subprocess.DEVNULL)

    # -- the interface ---------------------------------------------------------------------------
    def start(self) -> None:
        """Requeue what the previous run left running (this server holds the data directory's lock, so
        no worker of it is alive), then start the workers."""
        requeued = self.jobs.requeue_interrupted()
        if requeued:
            log.warning("%d interrupted job(s) from the previous run requeued", len(requeued))
        for i in range(self.settings.workers):
            wid = f"w{i + 1}"
            self.procs[wid] = self._spawn(wid)
        self.thread.start()

    def dispatch(self, job_id: str) -> None:
        """Nothing to do: the workers poll the job store (:meth:`~.stores.JobStore.claim_next`)."""

    def revoke(self, job_id: str) -> None:
        """Nothing to do: a cancelled job is never claimed."""

    def workers_alive(self) -> int | None:
        return sum(1 for p in self.procs.values() if p.poll() is None)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every worker (each requeues its running job), then wait; SIGKILL stragglers."""
        self.stopping.set()
        stop_processes(self.procs.values(), timeout)
        self.jobs.requeue_interrupted()

    # -- the watcher -----------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self.stopping.wait(1.0):
            try:
                self._restart_dead()
            except Exception:
                log.exception("worker watch failed; retrying")

    def _restart_dead(self) -> None:
        for wid, proc in list(self.procs.items()):
            if proc.poll() is None or self.stopping.is_set():
                continue
            try:  # requeue first: a new worker under the same id must not find the old job running
                n = len(self.jobs.requeue_interrupted(worker=wid))
            except Exception as exc:
                log.warning(
                    "worker %s exited with code %s; cannot requeue its job yet (%s: %s)",
                    wid,
                    proc.returncode,
                    type(exc).__name__,
                    exc,
                )
                continue
            log.warning(
                "worker %s exited with code %s; %d job(s) requeued; restarting it", wid, proc.returncode, n
            )
            time.sleep(1.0)
            if not self.stopping.is_set():
                self.procs[wid] = self._spawn(wid)
