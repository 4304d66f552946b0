"""``impasto serve``: one web process (uvicorn) plus N worker processes sharing the data directory.

On start the interrupted jobs of a previous run (left ``running`` by a SIGKILL) go back to the head
of the queue; a worker that dies while the server runs is restarted and its job requeued (failed
after three tries, so one poisonous job cannot loop forever). The watcher survives any exception (a
full disk included: it retries each second). A lock file keeps two servers off the same data
directory, and a broken or emptied queue database is refused until ``--recover`` rebuilds it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..errors import ImpastoError
from .limits import Settings
from .queue import SQLiteQueue
from .recover import database_problem, recover
from .timeouts import protocol

log = logging.getLogger("impasto.service")

CLEANUP_EVERY = 600.0  # seconds between retention sweeps


class DataDirLock:
    """An exclusive ``flock`` on ``DATA_DIR/server.lock`` (released by the kernel even on SIGKILL)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "server.lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            self.fd = None
            raise ImpastoError(
                f"another impasto server is using the data directory '{self.path.parent}'"
            ) from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class WorkerPool:
    """Starts, watches and stops the worker processes; also runs the retention sweep."""

    def __init__(self, settings: Settings, queue: SQLiteQueue) -> None:
        self.settings, self.queue = settings, queue
        self.procs: dict[str, subprocess.Popen] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="impasto-workers", daemon=True)
        self.threads = settings.threads or max(1, (os.cpu_count() or 1) // settings.workers)

    def _spawn(self, worker_id: str) -> subprocess.Popen:
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

    def start(self) -> None:
        for i in range(self.settings.workers):
            wid = f"w{i + 1}"
            self.procs[wid] = self._spawn(wid)
        self.thread.start()

    def alive(self) -> int:
        return sum(1 for p in self.procs.values() if p.poll() is None)

    def _watch(self) -> None:
        last_cleanup = 0.0
        while not self.stopping.wait(1.0):
            try:
                self._restart_dead()
            except Exception:
                log.exception("worker watch failed; retrying")
            if time.monotonic() - last_cleanup > min(CLEANUP_EVERY, max(5.0, self.settings.retention / 4)):
                last_cleanup = time.monotonic()
                try:
                    n = self.queue.cleanup(self.settings.retention)
                    if n:
                        log.info("retention: deleted %d finished job(s)", n)
                except Exception:
                    log.exception("retention sweep failed")

    def _restart_dead(self) -> None:
        for wid, proc in list(self.procs.items()):
            if proc.poll() is None or self.stopping.is_set():
                continue
            try:  # requeue first: a new worker under the same id must not find the old job running
                n = self.queue.requeue_interrupted(worker=wid)
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

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every worker (each requeues its running job), then wait; SIGKILL stragglers."""
        self.stopping.set()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.queue.requeue_interrupted()


def check_port(host: str, port: int) -> None:
    """Fail with one line before any worker starts when the address cannot be bound."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise ImpastoError(f"cannot resolve host '{host}'") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            raise ImpastoError(
                f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port"
            ) from None


def serve(
    settings: Settings,
    *,
    log_level: str = "info",
    on_ready=None,
    recover_queue: bool = False,
    on_recover=None,
) -> None:
    """Run the service until SIGINT/SIGTERM (after rebuilding the queue from the job records when
    ``recover_queue``; ``on_recover`` receives the :class:`~impasto.service.recover.Recovery`)."""
    import uvicorn

    from .app import create_app

    data_dir = Path(settings.data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImpastoError(f"cannot create data directory '{data_dir}': {exc.strerror}") from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise ImpastoError(f"data directory '{data_dir}' is not writable")
    check_port(settings.host, settings.port)
    lock = DataDirLock(data_dir)
    lock.acquire()
    try:
        if recover_queue:
            done = recover(data_dir)
            if on_recover is not None:
                on_recover(done)
        elif (problem := database_problem(data_dir)) is not None:
            raise ImpastoError(problem)
        queue = SQLiteQueue(data_dir)
        requeued = queue.requeue_interrupted()
        if requeued:
            log.warning("%d interrupted job(s) from the previous run requeued", requeued)
        queue.cleanup(settings.retention)
        pool = WorkerPool(settings, queue)
        app = create_app(settings, queue, workers_alive=pool.alive)
        access = (
            settings.access
        )  # slow clients: header deadline, idle keep-alive (the body pace is in the app)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            timeout_graceful_shutdown=3,
            access_log=log_level == "debug",
            http=protocol(access.header_timeout),
            timeout_keep_alive=access.keep_alive,
        )
        server = uvicorn.Server(config)
        pool.start()
        try:
            if on_ready is not None:
                on_ready()
            server.run()
        finally:
            pool.stop()
    finally:
        lock.release()
