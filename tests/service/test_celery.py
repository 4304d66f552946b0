"""The scale-out backend against real processes: a persistent redis-server, `impasto serve --redis URL
--workers 0` (the API alone) and two `impasto worker` processes, each in a directory of its own and
sharing nothing with the API but the URL. Faults: a worker SIGKILLed mid-job, Redis restarted with jobs
queued (and the API answering 503 meanwhile), the API SIGKILLed and started again; then a burst of
tiny jobs over the two workers. Every job must end ``succeeded`` exactly once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import Server, final, wait_for

LEASE = 3.0  # seconds: a SIGKILLed worker's job moves on after about this long (the default is 30)


class Worker:
    """`python -m impasto worker --redis URL` in its own process group and working directory."""

    def __init__(self, url: str, name: str, home: Path) -> None:
        self.url, self.name, self.home = url, name, home
        self.home.mkdir(parents=True, exist_ok=True)
        self.log = home / "worker.log"
        self.proc: subprocess.Popen | None = None
        self.ready_before = 0

    def start(self) -> Worker:
        cmd = [sys.executable, "-m", "impasto", "worker", "--redis", self.url, "--name", self.name]
        cmd += ["--threads", "1", "--lease", str(LEASE)]
        self.ready_before = len(self.lines(r"worker \S+ ready"))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def lines(self, pattern: str) -> list[str]:
        return re.findall(pattern, self.log.read_text(errors="replace")) if self.log.exists() else []

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.lines(r"worker \S+ ready")) <= self.ready_before:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, *, wait: bool = True) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            if not wait:
                return
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def outcomes(self) -> dict[str, list[str]]:
        """Job id → the states this worker logged for it ("job ID (kind) STATE in ...")."""
        out: dict[str, list[str]] = {}
        for job_id, state in self.lines(r"job ([0-9a-f]{32}) \(\w+\) (\w+) in"):
            out.setdefault(job_id, []).append(state)
        return out


@pytest.fixture(scope="module")
def redis_db(tmp_path_factory):
    from .conftest import _redis_or_skip
    from .redis_server import RedisServer

    _redis_or_skip()
    server = RedisServer(tmp_path_factory.mktemp("redis-aof"), persistent=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(redis_db, tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    workers = [Worker(redis_db.url, f"m{i}", root / f"machine-{i}").start() for i in (1, 2)]
    api = Server(root / "api-data", "--redis", redis_db.url, "--workers", "0", "--max-queue", "60")
    try:
        for w in workers:
            w.wait_ready()
        api.start()
        yield api, workers
    finally:
        api.stop()
        for w in workers:  # SIGTERM to both first: their warm shutdowns overlap
            w.stop(wait=False)
        for w in workers:
            w.stop()


def logged_outcomes(workers: list[Worker], ids: list[str], timeout: float = 10.0) -> dict[str, list[str]]:
    """Job id → the outcomes every worker logged for it, once each job has one (a worker logs its line
    just after the job store records the end)."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, list[str]] = {}
        for w in workers:
            for job_id, states in w.outcomes().items():
                found.setdefault(job_id, []).extend(states)
        if all(i in found for i in ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def submit(client: httpx.Client, tiny_images, kind: str = "fast", **params) -> dict:
    files = [("content", ("c.jpg", tiny_images["content"]))]
    if kind == "stylize":
        files.append(("style", ("s.png", tiny_images["style"])))
    r = client.post("/v1/jobs", data={"kind": kind, **{k: str(v) for k, v in params.items()}}, files=files)
    assert r.status_code == 202, r.text
    return r.json()


def test_workers_elsewhere_run_jobs_the_api_serves(cluster, tiny_images):
    api, workers = cluster
    with api.client() as client:
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["workers"] == 2 and health["queued"] == 0
        job = wait_for(client, submit(client, tiny_images, size=32)["id"], final)
        assert job["state"] == "succeeded", job
        result = client.get(job["urls"]["result"])
        assert result.status_code == 200 and result.content.startswith(b"\x89PNG")
    for w in workers:  # nothing of the job on the workers' machines once it is done
        assert not any(p.is_file() and p.suffix in (".png", ".jpg") for p in w.home.rglob("*"))


def test_a_job_recorded_without_its_message_is_dispatched_by_a_worker(cluster, redis_db, tiny_images):
    from impasto.service.redis_files import RedisFileStore
    from impasto.service.redis_jobs import RedisJobStore

    api, _ = cluster
    jobs, files = RedisJobStore(redis_db.url), RedisFileStore(redis_db.url, ttl=600)
    job_id = jobs.new_id()
    files.put(job_id, "content-0.jpg", tiny_images["content"])
    jobs.submit(job_id, "fast", {"size": 32}, {"content": ["content-0.jpg"]})  # as if the API died here
    jobs.close()
    files.close()
    with api.client() as client:
        done = wait_for(client, job_id, final, timeout=60)  # a worker's watchman finds it after a lease
    assert done["state"] == "succeeded" and done["attempts"] == 1, done


def test_sigkill_of_a_worker_mid_job_the_other_finishes_it_once(cluster, tiny_images):
    api, workers = cluster
    by_name = {w.name: w for w in workers}
    with api.client() as client:
        # long enough to be killed mid-job on a fast CPU (tol=0: no convergence stop)
        job = submit(client, tiny_images, "stylize", size=48, iters=300, tol=0)
        running = wait_for(
            client,
            job["id"],
            lambda j: (
                j["state"] == "running" and j["has_preview"] and (j["progress"] or {}).get("step", 0) >= 3
            ),
        )
        victim = by_name[_worker_of(running, workers)]
        victim.kill()
        killed_at = time.monotonic()
        taken = wait_for(client, job["id"], lambda j: j["attempts"] == 2 or final(j), timeout=60)
        recovery = time.monotonic() - killed_at
        done = wait_for(client, job["id"], final)
    survivor = next(w for w in workers if w is not victim)
    assert done["state"] == "succeeded" and done["attempts"] == 2, done
    assert done["progress"]["stage"].startswith("resumed at step")  # from the checkpoint in Redis
    assert logged_outcomes([survivor], [job["id"]])[job["id"]] == ["succeeded"]
    assert job["id"] not in victim.outcomes()
    assert taken["attempts"] == 2 and recovery < LEASE + 5, recovery  # the lease, plus a sweep or two
    print(f"recovery after SIGKILL: {recovery:.1f} s (lease {LEASE:g} s)")
    victim.start()  # back for the tests below: up before the next test restarts Redis under it
    victim.wait_ready()


def _worker_of(job: dict, workers: list[Worker]) -> str:
    """The name of the worker holding ``job``'s lease (read from its record in Redis)."""
    import redis

    client = redis.Redis.from_url(workers[0].url)
    name = client.hget(f"impasto:job:{job['id']}", "worker")
    client.close()
    assert name is not None, job
    return name.decode()


def test_redis_restart_with_jobs_queued_all_still_run(cluster, redis_db, tiny_images):
    api, workers = cluster
    with api.client() as client:
        ids = [submit(client, tiny_images, size=32)["id"] for _ in range(6)]
        redis_db.kill()  # SIGKILL: what was fsynced (every write: appendfsync always) is all there is
        r = client.get(f"/v1/jobs/{ids[0]}")
        assert r.status_code == 503 and r.json()["error"] == "backend_unavailable", r.text
        assert client.get("/healthz").json()["status"] == "degraded"
        time.sleep(1.0)
        redis_db.start()
        jobs = [wait_for(client, job_id, final, timeout=90) for job_id in ids]
    assert [j["state"] for j in jobs] == ["succeeded"] * len(ids), jobs
    outcomes = logged_outcomes(workers, ids)
    for job_id in ids:  # each ran to success once, on one worker
        assert outcomes[job_id].count("succeeded") == 1, (job_id, outcomes.get(job_id))


def test_api_restart_loses_nothing(cluster, tiny_images):
    api, _ = cluster
    with api.client() as client:
        done = wait_for(client, submit(client, tiny_images, size=32)["id"], final)
        waiting = [submit(client, tiny_images, size=32)["id"] for _ in range(4)]
    api.kill()  # SIGKILL of the API: the jobs live in Redis, the workers carry on
    api.start()
    with api.client() as client:
        assert client.get(done["urls"]["result"]).status_code == 200
        assert [wait_for(client, j, final)["state"] for j in waiting] == ["succeeded"] * 4


def test_fifty_tiny_jobs_over_two_workers_each_succeeds_once(cluster, tiny_images):
    api, workers = cluster
    for w in workers:
        w.wait_ready()
    with api.client() as client:
        ids = [submit(client, tiny_images, size=32)["id"] for _ in range(50)]
        jobs = [wait_for(client, job_id, final, timeout=120) for job_id in ids]
    assert [j["state"] for j in jobs] == ["succeeded"] * 50
    assert {j["attempts"] for j in jobs} == {1}  # none started twice
    ran = logged_outcomes(workers, ids)
    assert all(ran[i] == ["succeeded"] for i in ids)  # none run twice
    assert all(any(i in w.outcomes() for i in ids) for w in workers)  # both workers took a share
