"""A real `impasto serve` process on a free loopback port, tiny test images, an SSE reader, and the
backends the API tests run against."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .redis_server import REDIS_SERVER, RedisServer

httpx = pytest.importorskip("httpx", reason="the web service tests need the 'serve' extra")
pytest.importorskip("fastapi", reason="the web service tests need the 'serve' extra")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
START_TIMEOUT = 90.0


@dataclass(frozen=True)
class Backend:
    """A backend the API tests run against: how `impasto serve` is told to use it, and how an in-process
    app builds it."""

    name: str
    serve_args: tuple[str, ...]
    """Extra `impasto serve` arguments (none for the embedded SQLite + local-workers backend)."""
    build: Callable[..., object]
    """``build(settings) -> Backends`` for an app created in the test process."""


#: The backends every API test (test_api.py, test_arbitrary.py, test_auth.py) runs against, as names of fixtures
#: returning a :class:`Backend`. Adding a backend: its fixture, and its name here (one line).
BACKENDS = ["embedded_backend", "redis_backend"]


@pytest.fixture(scope="session")
def embedded_backend() -> Backend:
    from impasto.service.backends import build

    return Backend("embedded", (), build)


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> Backend:
    """The backend under test; module-scoped, so one API server per module and backend."""
    return request.getfixturevalue(request.param)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m impasto serve` in its own process group (so a test can SIGKILL it and its workers)."""

    def __init__(
        self, data_dir: Path, *args: str, api_key: str | None = None, log: Path | None = None
    ) -> None:
        self.data_dir, self.args, self.api_key = Path(data_dir), args, api_key
        self.log = log or self.data_dir.parent / f"{self.data_dir.name}-server.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "IMPASTO_API_KEY"}
        if self.api_key:
            env["IMPASTO_API_KEY"] = self.api_key
        cmd = [
            sys.executable,
            "-m",
            "impasto",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            "warning",
            *self.args,
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            try:
                r = httpx.get(f"{self.url}/healthz", timeout=1.0)
                if r.status_code == 200 and r.json().get("workers"):
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not start in {START_TIMEOUT} s:\n{self.log.read_text()[-3000:]}")

    def client(self, **kw) -> httpx.Client:
        headers = {"X-API-Key": self.api_key} if self.api_key else {}
        return httpx.Client(base_url=self.url, timeout=30.0, headers=headers, **kw)

    def kill(self) -> None:
        """SIGKILL the whole process group: web process and workers, no clean-up of any kind."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._reap()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._reap()

    def _reap(self) -> None:
        if self.proc is not None:
            try:  # workers left behind (only if the group outlived its leader)
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def png_bytes(path: Path, size: int, *, fmt: str = "PNG") -> bytes:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((size, size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format=fmt)
        return buf.getvalue()


@pytest.fixture(scope="session")
def tiny_images() -> dict[str, bytes]:
    return {
        "content": png_bytes(EXAMPLES / "tubingen.jpg", 48, fmt="JPEG"),
        "style": png_bytes(EXAMPLES / "starry_night.jpg", 48),
    }


def read_events(client: httpx.Client, url: str, *, timeout: float = 120.0) -> list[dict]:
    """Read a server-sent event stream until its ``end`` event; each event as {id, event, data}."""
    events: list[dict] = []
    current: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    with client.stream("GET", url, timeout=timeout) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no end event within {timeout} s; got {events[-3:]}")
            if line == "":
                if "event" in current:
                    events.append(
                        {
                            "id": int(current["id"]),
                            "event": current["event"],
                            "data": json.loads(current["data"]),
                        }
                    )
                    if current["event"] == "end":
                        return events
                current = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                current[key] = value[1:] if value.startswith(" ") else value
    raise AssertionError(f"stream closed without an end event: {events[-3:]}")


def wait_for(client: httpx.Client, job_id: str, predicate, *, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if predicate(job):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['state']} after {timeout} s: {job}")
        time.sleep(0.05)


def final(job: dict) -> bool:
    return job["state"] in ("succeeded", "failed", "cancelled")


# -- Redis (the scale-out backend): a real redis-server per test module, its own directory ----------
def _redis_or_skip() -> None:
    if not Path(REDIS_SERVER).exists():
        pytest.skip("the Redis tests need Debian's redis-server (make redis installs it)")
    pytest.importorskip("redis", reason="the Redis tests need the 'scale' extra")
    pytest.importorskip("celery", reason="the Redis tests need the 'scale' extra")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """A running ``redis-server`` (no persistence) shared by a test module; yields the :class:`RedisServer`."""
    _redis_or_skip()
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def persistent_redis(tmp_path):
    """A ``redis-server`` of its own with the append-only file on, for tests that restart it."""
    _redis_or_skip()
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    """The URL of an empty database (flushed before each test) on the module's server."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    return redis_server.url


@pytest.fixture(scope="module")
def redis_backend(tmp_path_factory) -> Iterator[Backend]:
    """The scale-out backend: a redis-server of the module's own; `impasto serve --redis URL` starts its
    Celery workers (``--workers``, as for the embedded backend). An app built in the test process gets
    a database of its own per data directory, as the embedded backend gets a fresh SQLite file."""
    _redis_or_skip()
    import dataclasses

    from impasto.service.backends import build

    server = RedisServer(tmp_path_factory.mktemp("redis-backend")).start()
    databases: dict[Path, int] = {}  # an in-process app's data directory → its own Redis database

    def build_on_redis(settings, **kw):
        db = databases.setdefault(Path(settings.data_dir), len(databases) + 1)
        return build(dataclasses.replace(settings, redis=server.db_url(db)), **kw)

    yield Backend("redis", ("--redis", server.url), build_on_redis)
    server.stop()


# -- the Redis stores in the contract suites (tests/service/contracts) ---------------------------
@pytest.fixture
def redis_job_store(redis_url) -> Iterator[Callable[[], object]]:
    from impasto.service.redis_jobs import RedisJobStore

    opened: list[RedisJobStore] = []

    def open_store() -> RedisJobStore:
        opened.append(RedisJobStore(redis_url))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def redis_file_store(redis_url, tmp_path) -> Iterator[Callable[[], object]]:
    from impasto.service.redis_files import RedisFileStore

    opened: list[RedisFileStore] = []

    def open_store() -> RedisFileStore:  # each handle with its own local copies, as on another machine
        opened.append(RedisFileStore(redis_url, ttl=3600, cache_dir=tmp_path / f"cache-{len(opened)}"))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()
