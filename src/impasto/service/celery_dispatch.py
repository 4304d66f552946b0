"""The Celery dispatcher (:class:`~impasto.service.stores.Dispatcher`): a dispatch is one ``impasto.run``
task carrying the job id, pushed through Redis to whichever worker is free, on any machine.

Besides sending, it keeps the two facts of the scale-out backend that live beside the job store in Redis:
the service's settings the workers need (how long files live, the visibility timeout — published by the
API at start, read by every worker) and the workers seen recently (each worker stamps itself every few
seconds; ``/healthz`` counts those seen in the last minute). With ``impasto serve --redis URL --workers
N`` it also starts N local workers (``impasto worker`` processes) and restarts one that dies.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .celery_app import QUEUE, TASK_NAME, make_app, visibility_timeout
from .dispatch import stop_processes
from .limits import Limits, Settings
from .redis_client import connect, display_url, translate
from .stores import BackendUnavailable, JobStore

log = logging.getLogger("impasto.service")

SEEN_WITHIN = 60.0  # a worker stamped within this many seconds counts as alive (/healthz)


@dataclass(frozen=True)
class ServiceConfig:
    """The settings an ``impasto serve --redis`` publishes for its workers, in ``PREFIX config``."""

    file_ttl: float
    """Seconds a job's files live after their last write."""
    visibility: float
    """The Celery visibility timeout (seconds)."""

    @classmethod
    def for_settings(cls, retention: float, limits: Limits, budget: float | None = None) -> ServiceConfig:
        """Files live for the retention plus the longest a job may take (a job that waited and ran to
        its limit still finds its inputs); the visibility timeout is that longest job."""
        visibility = visibility_timeout(limits, budget)
        return cls(file_ttl=retention + visibility, visibility=visibility)

    @classmethod
    def default(cls) -> ServiceConfig:
        return cls.for_settings(Settings(data_dir=Path()).retention, Limits())

    def publish(self, client: Any, prefix: str) -> None:
        client.set(f"{prefix}config", json.dumps({"file_ttl": self.file_ttl, "visibility": self.visibility}))

    @classmethod
    def read(cls, client: Any, prefix: str) -> ServiceConfig:
        """What the API published; the defaults when no API has started yet."""
        raw = client.get(f"{prefix}config")
        if raw is None:
            return cls.default()
        d = json.loads(raw)
        return cls(file_ttl=float(d["file_ttl"]), visibility=float(d["visibility"]))


def stamp_worker(client: Any, prefix: str, name: str) -> None:
    """Record that worker ``name`` is alive now (the Redis server's clock)."""
    seconds, micros = client.time()
    now = seconds + micros / 1e6
    pipe = client.pipeline(transaction=True)
    pipe.zadd(f"{prefix}workers", {name: now})
    pipe.zremrangebyscore(f"{prefix}workers", "-inf", now - 24 * 3600)  # long gone
    pipe.execute()


def workers_seen(client: Any, prefix: str, within: float = SEEN_WITHIN) -> int:
    seconds, micros = client.time()
    return int(client.zcount(f"{prefix}workers", seconds + micros / 1e6 - within, "+inf"))


UNACKED = "unacked"  # kombu's Redis transport: deliveries not yet acknowledged, by delivery tag


def in_broker(client: Any, queue: str = QUEUE) -> set[str]:
    """Task ids — job ids — of the messages waiting in the broker's queue or delivered to a worker and
    not yet acknowledged (kombu's Redis transport keeps both in Redis: a list named after the queue, and
    the ``unacked`` hash)."""
    ids: set[str] = set()
    for raw in client.lrange(queue, 0, -1):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            ids.add(json.loads(raw)["headers"]["id"])
    for raw in client.hvals(UNACKED):
        with contextlib.suppress(ValueError, KeyError, TypeError, IndexError):
            ids.add(json.loads(raw)[0]["headers"]["id"])
    return ids


class CeleryDispatcher:
    """Dispatch through Celery; ``local_workers`` ``impasto worker`` processes started with the server."""

    def __init__(
        self,
        url: str,
        jobs: JobStore,
        *,
        config: ServiceConfig,
        prefix: str = "impasto:",
        local_workers: int = 0,
        threads: int | None = None,
        work_dir: Path | None = None,
        lease: float | None = None,
    ) -> None:
        self.url, self.jobs, self.config, self.prefix = url, jobs, config, prefix
        self.app = make_app(url, visibility=config.visibility)
        self.client = connect(url)
        self.local_workers, self.work_dir, self.lease = local_workers, work_dir, lease
        self.threads = threads or max(1, (os.cpu_count() or 1) // max(1, local_workers))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="impasto-celery-workers", daemon=True)

    # -- the Dispatcher protocol ------------------------------------------------------------------
    def start(self) -> None:
        """Publish the settings for the workers, dispatch the queued jobs that have no message (see
        :meth:`redispatch_orphans`), then start the local workers."""
        with translate(self.url):
            self.config.publish(self.client, self.prefix)
        orphans = self.redispatch_orphans(older_than=0.0)
        if orphans:
            log.info("%d queued job(s) without a message dispatched again", len(orphans))
        for i in range(self.local_workers):
            name = f"{socket.gethostname()}-w{i + 1}"
            self.procs[name] = self._spawn(name)
        if self.procs:
            self.thread.start()

    def dispatch(self, job_id: str, *, countdown: float | None = None) -> None:
        from kombu.exceptions import OperationalError

        try:
            self.app.send_task(
                TASK_NAME,
                args=[job_id],
                task_id=job_id,  # revoke(job_id) reaches every delivery of the job
                queue=QUEUE,
                countdown=countdown,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2},
            )
        except OperationalError as exc:
            raise BackendUnavailable(f"Redis at {display_url(self.url)}", str(exc)) from exc

    def redispatch_orphans(self, *, older_than: float = 30.0) -> list[str]:
        """Dispatch again the jobs queued for more than ``older_than`` seconds of which the broker holds
        no message: recorded, but the API stopped before sending it, or Redis lost the last second of
        writes (``appendfsync everysec``). A job with a message in flight may be sent twice; the second
        delivery is dropped by :meth:`~impasto.service.stores.JobStore.claim`."""
        queued = self.jobs.list(limit=1_000_000, state="queued")
        with translate(self.url):
            seconds, micros = self.client.time()
            waiting = in_broker(self.client)
        now = seconds + micros / 1e6
        orphans = [j.id for j in reversed(queued) if now - j.created_at >= older_than and j.id not in waiting]
        for job_id in orphans:  # oldest first
            self.dispatch(job_id)
        return orphans

    def revoke(self, job_id: str) -> None:
        try:
            self.app.control.revoke(job_id)
        except Exception as exc:  # best effort: a delivery that still arrives is dropped by claim()
            log.warning("job %s: revoke not sent (%s: %s)", job_id, type(exc).__name__, exc)

    def workers_alive(self) -> int | None:
        """Workers seen in the last minute; None while Redis cannot be reached."""
        try:
            with translate(self.url):
                return workers_seen(self.client, self.prefix)
        except BackendUnavailable:
            return None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the local workers (each puts its running job back and dispatches it again), wait, then
        SIGKILL stragglers (their jobs come back when their leases expire)."""
        self.stopping.set()
        stop_processes(self.procs.values(), timeout)
        self.client.close()

    # -- local workers ---------------------------------------------------------------------------
    def _spawn(self, name: str) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "impasto", "worker", "--redis", self.url, "--name", name]
        cmd += ["--threads", str(self.threads), "--parent", str(os.getpid())]
        if self.lease is not None:
            cmd += ["--lease", str(self.lease)]
        cwd = None
        if self.work_dir is not None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            cwd = self.work_dir
        return subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL)

    def _watch(self) -> None:
        while not self.stopping.wait(1.0):
            for name, proc in list(self.procs.items()):
                if proc.poll() is None or self.stopping.is_set():
                    continue
                try:  # its job need not wait for the lease to expire: this worker is known dead
                    back = self.jobs.requeue_interrupted(worker=name)
                    for job_id in back:
                        self.dispatch(job_id)
                except BackendUnavailable as exc:
                    back = []
                    log.warning("worker %s exited; its job waits for its lease to expire (%s)", name, exc)
                log.warning(
                    "worker %s exited with code %s; %d job(s) dispatched again; restarting it",
                    name,
                    proc.returncode,
                    len(back),
                )
                self.procs[name] = self._spawn(name)
