"""A real ``redis-server`` for the tests: Debian's binary (``make redis`` installs it), on a free loopback
port, in its own temporary directory, stopped afterwards. No fakeredis, no Celery eager mode."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

START_TIMEOUT = 10.0
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping(port: int, timeout: float = 0.5) -> bool:
    """Whether a Redis server answers PING on ``127.0.0.1:port`` (the protocol by hand: no client needed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``redis-server --port P --dir D`` as a child process; ``persistent`` turns the append-only file on
    (every write fsynced), so :meth:`restart` brings back everything that was written before it."""

    def __init__(self, directory: Path, *, persistent: bool = False) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.persistent = persistent
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = self.dir / "redis.log"

    @property
    def url(self) -> str:
        return self.db_url(0)

    def db_url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
            if self.persistent
            else ["--appendonly", "no", "--save", ""]
        )
        cmd = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--daemonize",
            "no",
            "--logfile",
            str(self.log),
            "--maxmemory-policy",
            "noeviction",  # as the README asks of a deployment: never drop a job's keys
            "--databases",
            "1000",  # a fresh database per in-process app (see conftest.redis_backend)
            *persistence,
        ]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text()[-2000:] if self.log.exists() else ""
                raise RuntimeError(f"redis-server did not answer PING on port {self.port}:\n{tail}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """SIGTERM (a persistent server flushes its append-only file), SIGKILL if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind (with ``appendfsync always`` nothing acknowledged is lost)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def restart(self, *, persistent: bool | None = None, kill: bool = False) -> RedisServer:
        """Stop the server and start it again on the same port and directory."""
        (self.kill if kill else self.stop)()
        if persistent is not None:
            self.persistent = persistent
        return self.start()
