"""The SQLite job queue on its own: ordering, cancel, requeue after a crash, retention, concurrency."""

from __future__ import annotations

import threading
import time

import pytest

from impasto.service.queue import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Progress, SQLiteQueue


def add(q: SQLiteQueue, n: int = 1, **kw) -> list[str]:
    ids = []
    for _ in range(n):
        job_id = q.new_id()
        q.job_dir(job_id).mkdir(parents=True)
        (q.job_dir(job_id) / "content.png").write_bytes(b"x")
        assert q.submit(job_id, "stylize", {"iters": 3}, {"content": ["content.png"]}, **kw) is not None
        ids.append(job_id)
    return ids


def test_fifo_claim_and_life_cycle(tmp_path):
    q = SQLiteQueue(tmp_path)
    a, b = add(q, 2)
    assert q.get(a).state == QUEUED and q.pending() == 2
    job = q.claim_next("w1")
    assert job.id == a and job.state == RUNNING and job.worker == "w1" and job.attempts == 1
    assert q.update_progress(a, Progress(2, 3, {"total": 1.5}, 0.4, 0.2), preview=True)
    got = q.get(a)
    assert got.progress.step == 2 and got.progress.losses == {"total": 1.5} and got.preview_seq == 1
    q.finish(a, result="result.png")
    assert q.get(a).state == SUCCEEDED and q.get(a).finished_at is not None
    assert q.claim_next("w1").id == b
    q.fail(b, "broken")
    assert q.get(b).state == FAILED and q.get(b).error == "broken"
    assert q.claim_next("w1") is None
    assert [j.id for j in q.list()] == [b, a]
    assert [j.id for j in q.list(state=FAILED)] == [b]


def test_cancel_queued_and_running(tmp_path):
    q = SQLiteQueue(tmp_path)
    a, b = add(q, 2)
    q.claim_next("w1")
    assert q.cancel(b).state == CANCELLED  # queued: at once
    running = q.cancel(a)
    assert running.state == RUNNING and running.cancel_requested  # running: asked to stop
    assert q.update_progress(a, Progress(1, 3)) is False
    q.finish(a, state=CANCELLED)
    assert q.claim_next("w1") is None
    q.finish(a, state=SUCCEEDED)  # a final job stays final
    assert q.get(a).state == CANCELLED


def test_max_pending_refuses(tmp_path):
    q = SQLiteQueue(tmp_path)
    add(q, 2, max_pending=2)
    job_id = q.new_id()
    assert q.submit(job_id, "stylize", {}, {}, max_pending=2) is None
    assert q.get(job_id) is None


def test_requeue_interrupted_runs_the_job_first_and_gives_up_after_three_tries(tmp_path):
    q = SQLiteQueue(tmp_path)
    a, b = add(q, 2)
    assert q.claim_next("w1").id == a
    # The server was killed: a new queue object (as after a restart) finds `a` still running.
    q2 = SQLiteQueue(tmp_path)
    assert q2.requeue_interrupted() == 1
    assert q2.get(a).state == QUEUED
    assert q2.claim_next("w1").id == a  # ahead of b, which was submitted after it
    assert q2.requeue_interrupted(worker="w2") == 0  # another worker's jobs only
    q2.requeue_interrupted(worker="w1")
    assert q2.claim_next("w1").id == a and q2.get(a).attempts == 3
    q2.requeue_interrupted()
    job = q2.get(a)
    assert job.state == FAILED and "3 times" in job.error
    assert q2.claim_next("w1").id == b


def test_clean_shutdown_requeue_does_not_count_as_a_try(tmp_path):
    q = SQLiteQueue(tmp_path)
    (a,) = add(q)
    for _ in range(5):
        assert q.claim_next("w1").id == a
        q.requeue(a)
    assert q.get(a).state == QUEUED and q.get(a).attempts == 0


def test_cleanup_deletes_old_final_jobs_and_their_files(tmp_path):
    q = SQLiteQueue(tmp_path)
    old, recent, running = add(q, 3)
    for job_id in (old, recent, running):
        q.claim_next("w1")
    q.finish(old)
    q.finish(recent)
    now = time.time()
    assert q.cleanup(3600, now=now) == 0
    assert q.cleanup(3600, now=now + 7200) == 2  # both finished, both older than an hour by then
    assert q.get(old) is None and not q.job_dir(old).exists()
    assert q.get(running).state == RUNNING and q.job_dir(running).exists()


def test_cleanup_removes_orphan_upload_directories(tmp_path):
    import os

    q = SQLiteQueue(tmp_path)
    orphan = q.job_dir(q.new_id())
    orphan.mkdir(parents=True)
    os.utime(orphan, (time.time() - 7200, time.time() - 7200))
    fresh = q.job_dir(q.new_id())
    fresh.mkdir()
    q.cleanup(3600)
    assert not orphan.exists() and fresh.exists()


def test_job_dir_rejects_path_tricks(tmp_path):
    q = SQLiteQueue(tmp_path)
    for bad in ("../etc", "", "a/b", "ABC"):
        with pytest.raises(ValueError):
            q.job_dir(bad)


def test_concurrent_claims_never_hand_out_a_job_twice(tmp_path):
    q = SQLiteQueue(tmp_path)
    ids = add(q, 60)
    claimed: list[str] = []

    def claim_all(worker: str) -> None:
        mine = SQLiteQueue(tmp_path)  # its own connection, as a worker process has
        while (job := mine.claim_next(worker)) is not None:
            claimed.append(job.id)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(ids)  # each exactly once
