"""The worker on its own, in-process (real weights, a 32 px job): what it reads and writes goes through
the stores only, and a worker that loses its lease leaves the job alone."""

from __future__ import annotations

import threading
import time

import pytest

from impasto.service.backends import Backends
from impasto.service.files import LocalFileStore
from impasto.service.queue import SQLiteJobStore
from impasto.service.stores import RUNNING, SUCCEEDED
from impasto.service.worker import CHECKPOINT_META, CHECKPOINT_NAME, LOST, PREVIEW_NAME, RESULT_NAME, run_job

from .test_housekeeping import Recorder


@pytest.fixture
def backends(tmp_path) -> Backends:
    return Backends(SQLiteJobStore(tmp_path), LocalFileStore(tmp_path / "files"), Recorder())


@pytest.fixture(scope="module")
def kinds():
    from impasto.service.kinds import load_kinds

    return load_kinds()


def stylize_job(backends: Backends, tiny_images, iters: int) -> str:
    job_id = backends.jobs.new_id()
    backends.files.put(job_id, "content-0.jpg", tiny_images["content"])
    backends.files.put(job_id, "style-0.png", tiny_images["style"])
    params = {"size": 32, "iters": iters}
    backends.jobs.submit(job_id, "stylize", params, {"content": ["content-0.jpg"], "style": ["style-0.png"]})
    return job_id


def test_a_job_runs_through_the_stores(backends, kinds, tiny_images, tmp_path):
    job_id = stylize_job(backends, tiny_images, 4)
    job = backends.jobs.claim_next("w1")
    state = run_job(
        backends,
        kinds,
        job,
        worker="w1",
        stop=threading.Event(),
        preview_interval=0.0,
        scratch_root=tmp_path / "s",
    )
    assert state == SUCCEEDED
    done = backends.jobs.get(job_id)
    assert done.state == SUCCEEDED and done.result == RESULT_NAME and done.preview_seq > 0
    assert backends.files.get(job_id, RESULT_NAME)[:8] == b"\x89PNG\r\n\x1a\n"
    assert backends.files.exists(job_id, PREVIEW_NAME)
    assert not backends.files.exists(job_id, CHECKPOINT_NAME) and not backends.files.exists(
        job_id, CHECKPOINT_META
    )
    assert list((tmp_path / "s").iterdir()) == []  # the scratch directory is gone


def test_a_worker_that_lost_its_lease_drops_the_job(backends, kinds, tiny_images, tmp_path):
    job_id = stylize_job(backends, tiny_images, 400)
    job = backends.jobs.claim_next("w1")
    outcome: list[str] = []

    def run() -> None:
        outcome.append(
            run_job(
                backends,
                kinds,
                job,
                worker="w1",
                stop=threading.Event(),
                scratch_root=tmp_path / "s",
                heartbeat=0.1,
            )
        )

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 120
    while backends.jobs.get(job_id).progress.step < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    # w1 is presumed dead (as if its heartbeats had stopped): its job goes back and w2 takes it.
    assert backends.jobs.requeue_expired(now=time.time() + 3600) == [job_id]
    assert backends.jobs.claim_next("w2").id == job_id
    t.join(120)
    assert outcome == [LOST]
    after = backends.jobs.get(job_id)
    assert after.state == RUNNING and after.worker == "w2" and after.attempts == 2
    assert after.progress.step == 0  # nothing of w1's run was recorded on w2's
    assert not backends.files.exists(job_id, RESULT_NAME)
