"""The server's background work on any backend: expired leases re-dispatched, retention, orphaned uploads."""

from __future__ import annotations

import os
import time

from impasto.service.backends import Backends
from impasto.service.files import LocalFileStore
from impasto.service.housekeeping import requeue_expired, sweep
from impasto.service.queue import SQLiteJobStore
from impasto.service.stores import QUEUED, RUNNING


class Recorder:
    """A dispatcher that records what it was asked to dispatch (the server's only call here)."""

    def __init__(self) -> None:
        self.dispatched: list[str] = []

    def start(self) -> None: ...

    def dispatch(self, job_id: str) -> None:
        self.dispatched.append(job_id)

    def revoke(self, job_id: str) -> None: ...

    def workers_alive(self) -> int | None:
        return None

    def stop(self, timeout: float = 10.0) -> None: ...


def backends(tmp_path) -> Backends:
    return Backends(SQLiteJobStore(tmp_path), LocalFileStore(tmp_path / "jobs"), Recorder())


def add(b: Backends) -> str:
    job_id = b.jobs.new_id()
    b.files.put(job_id, "content-0.png", b"x")
    b.jobs.submit(job_id, "stylize", {}, {"content": ["content-0.png"]})
    return job_id


def test_expired_leases_are_dispatched_again(tmp_path):
    b = backends(tmp_path)
    lost, live = add(b), add(b)
    b.jobs.claim(lost, "w1", lease=0.05)
    b.jobs.claim(live, "w2", lease=60.0)
    time.sleep(0.2)
    assert requeue_expired(b) == [lost]
    assert b.dispatcher.dispatched == [lost]
    assert b.jobs.get(lost).state == QUEUED and b.jobs.get(live).state == RUNNING


def test_sweep_deletes_old_final_jobs_with_their_files(tmp_path):
    b = backends(tmp_path)
    old, running = add(b), add(b)
    b.jobs.claim(old, "w1")
    b.jobs.claim(running, "w1")
    b.files.put(old, "result.png", b"r")
    b.jobs.finish(old, result="result.png", worker="w1")
    assert sweep(b, 3600) == 0
    assert sweep(b, 3600, now=time.time() + 7200) == 1
    assert b.jobs.get(old) is None and not (tmp_path / "jobs" / old).exists()
    assert b.jobs.get(running).state == RUNNING and b.files.exists(running, "content-0.png")


def test_sweep_removes_orphaned_uploads_only_when_old(tmp_path):
    b = backends(tmp_path)
    orphan, fresh = b.jobs.new_id(), b.jobs.new_id()  # uploads whose submission never completed
    b.files.put(orphan, "content-0.png", b"x")
    b.files.put(fresh, "content-0.png", b"x")
    then = time.time() - 7200
    for p in (tmp_path / "jobs" / orphan, tmp_path / "jobs" / orphan / "content-0.png"):
        os.utime(p, (then, then))
    recorded = add(b)
    sweep(b, 3600)
    assert not (tmp_path / "jobs" / orphan).exists() and b.files.exists(fresh, "content-0.png")
    assert b.files.exists(recorded, "content-0.png")
