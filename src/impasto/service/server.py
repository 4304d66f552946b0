"""``impasto serve``: one web process (uvicorn) on the backends built from the settings
(:func:`.backends.build`: by default a SQLite job store, a local file store and N local worker
processes sharing the data directory), with the housekeeping thread (:mod:`.housekeeping`).

On start the dispatcher re-dispatches what a previous run left behind (the local one: the jobs left
``running`` by a SIGKILL go back to the head of the queue). A lock file keeps two servers off the same
data directory, and a broken or emptied queue database is refused until ``--recover`` rebuilds it.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path

from ..errors import ImpastoError
from .backends import build
from .housekeeping import Housekeeper, sweep
from .limits import Settings
from .timeouts import protocol

log = logging.getLogger("impasto.service")


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
    on_ready: Callable[[], None] | None = None,
    recover_queue: bool = False,
    on_recover: Callable[[object], None] | None = None,
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
        backends = build(settings, recover=recover_queue, on_recover=on_recover)
        app = create_app(settings, backends)
        # slow clients: header deadline, idle keep-alive (the body pace is in the app)
        access = settings.access
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            timeout_graceful_shutdown=3,
            access_log=log_level == "debug",
            http=protocol(access.header_timeout),
            timeout_keep_alive=access.keep_alive,  # type: ignore[arg-type]  # uvicorn says int, uses it as a float delay
        )
        server = uvicorn.Server(config)
        backends.dispatcher.start()
        sweep(backends, settings.retention)
        housekeeper = Housekeeper(backends, settings.retention)
        housekeeper.start()
        try:
            if on_ready is not None:
                on_ready()
            server.run()
        finally:
            housekeeper.stop()
            backends.dispatcher.stop()
    finally:
        lock.release()
