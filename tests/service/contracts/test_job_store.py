"""The JobStore contract (:class:`impasto.service.stores.JobStore`): every implementation listed in
``conftest.JOB_STORES`` must pass all of it."""

from __future__ import annotations

import threading
import time

import pytest

from impasto.service.stores import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, JobStore, Progress


def add(jobs: JobStore, n: int = 1, **kw) -> list[str]:
    ids = []
    for _ in range(n):
        job_id = jobs.new_id()
        assert jobs.submit(job_id, "stylize", {"iters": 3}, {"content": ["content.png"]}, **kw) is not None
        ids.append(job_id)
    return ids


# -- records and state transitions ---------------------------------------------------------------
def test_submit_records_what_was_asked(jobs):
    job_id = jobs.new_id()
    assert len(job_id) == 32 and all(c in "0123456789abcdef" for c in job_id) and job_id != jobs.new_id()
    job = jobs.submit(job_id, "texture", {"size": 64}, {"style": ["style-0.png"]}, owner="key:ana")
    assert (job.id, job.kind, job.params, job.inputs, job.owner) == (
        job_id,
        "texture",
        {"size": 64},
        {"style": ["style-0.png"]},
        "key:ana",
    )
    assert job.state == QUEUED and not job.final and job.attempts == 0 and job.worker is None
    assert job.created_at == pytest.approx(time.time(), abs=60) and job.started_at is None
    assert jobs.get(job_id) == job
    assert jobs.get(jobs.new_id()) is None


def test_fifo_claim_and_life_cycle(jobs):
    a, b = add(jobs, 2)
    assert jobs.get(a).state == QUEUED and jobs.pending() == 2
    job = jobs.claim_next("w1")
    assert job.id == a and job.state == RUNNING and job.worker == "w1" and job.attempts == 1
    assert job.started_at is not None
    assert jobs.update_progress(a, Progress(2, 3, {"total": 1.5}, 0.4, 0.2), preview=True)
    got = jobs.get(a)
    assert got.progress.step == 2 and got.progress.losses == {"total": 1.5} and got.preview_seq == 1
    assert jobs.finish(a, result="result.png")
    done = jobs.get(a)
    assert done.state == SUCCEEDED and done.final and done.finished_at is not None
    assert done.result == "result.png" and done.worker is None
    assert jobs.pending() == 1
    assert jobs.claim_next("w1").id == b
    assert jobs.fail(b, "broken")
    assert jobs.get(b).state == FAILED and jobs.get(b).error == "broken"
    assert jobs.claim_next("w1") is None
    assert jobs.pending() == 0


def test_a_final_job_stays_final(jobs):
    (a,) = add(jobs)
    jobs.claim_next("w1")
    assert jobs.finish(a, state=CANCELLED)
    assert not jobs.finish(a, state=SUCCEEDED)
    assert not jobs.fail(a, "late")
    assert not jobs.requeue(a)
    assert not jobs.update_progress(a, Progress(1, 3))
    assert jobs.get(a).state == CANCELLED and jobs.get(a).error is None
    with pytest.raises(ValueError):
        jobs.finish(a, state=RUNNING)


def test_cancel_queued_and_running(jobs):
    a, b = add(jobs, 2)
    jobs.claim_next("w1")
    assert not jobs.cancel_requested(a)
    queued = jobs.cancel(b)
    assert queued.state == CANCELLED and queued.finished_at is not None  # queued: at once
    running = jobs.cancel(a)
    assert running.state == RUNNING and running.cancel_requested  # running: asked to stop
    assert jobs.cancel_requested(a)
    assert jobs.update_progress(a, Progress(1, 3)) is False
    assert jobs.cancel(a).state == RUNNING  # idempotent
    jobs.finish(a, state=CANCELLED)
    assert jobs.claim_next("w1") is None
    assert jobs.cancel(a).state == CANCELLED  # final: left alone
    assert jobs.cancel(jobs.new_id()) is None
    assert jobs.cancel_requested(jobs.new_id())  # a job that is gone should stop too


def test_max_pending_refuses(jobs):
    add(jobs, 2, max_pending=2)
    job_id = jobs.new_id()
    assert jobs.submit(job_id, "stylize", {}, {}, max_pending=2) is None
    assert jobs.get(job_id) is None
    jobs.claim_next("w1")  # running jobs count as pending too
    assert jobs.submit(job_id, "stylize", {}, {}, max_pending=2) is None
    assert jobs.submit(job_id, "stylize", {}, {}, max_pending=3) is not None


def test_progress_and_preview_sequences_bump(jobs):
    (a,) = add(jobs)
    before = jobs.get(a).progress_seq
    started = jobs.claim_next("w1")
    assert started.progress_seq > before and started.progress == Progress()
    seqs = [started.progress_seq]
    for step, preview in ((1, False), (2, True), (3, False)):
        assert jobs.update_progress(
            a, Progress(step, 3, {"style": 0.5}, 0.1, 1.0, "scale 1/2"), preview=preview
        )
        job = jobs.get(a)
        seqs.append(job.progress_seq)
        assert job.progress == Progress(step, 3, {"style": 0.5}, 0.1, 1.0, "scale 1/2")
    assert seqs == sorted(set(seqs))  # strictly increasing
    assert jobs.get(a).preview_seq == 1
    (b,) = add(jobs)
    assert jobs.update_progress(b, Progress(1, 3)) is False  # not running: nothing recorded
    assert jobs.get(b).progress == Progress()


def test_owners_and_listing(jobs):
    mine = add(jobs, 2, owner="key:ana")
    theirs = add(jobs, 1, owner="session:xyz")
    assert {j.id for j in jobs.list()} == {*mine, *theirs}
    assert {j.id for j in jobs.list(owner="key:ana")} == set(mine)
    assert [j.id for j in jobs.list(owner="session:xyz")] == theirs
    assert jobs.list(owner="key:nobody") == []
    assert len(jobs.list(limit=2)) == 2
    jobs.claim_next("w1")
    assert [j.id for j in jobs.list(state=RUNNING)] == [mine[0]]
    assert {j.id for j in jobs.list(state=QUEUED)} == {mine[1], *theirs}
    assert [j.id for j in jobs.list(state=QUEUED, owner="key:ana")] == [mine[1]]


def test_newest_first(jobs):
    ids = []
    for _ in range(3):
        ids += add(jobs)
        time.sleep(0.01)
    assert [j.id for j in jobs.list()] == ids[::-1]


# -- attempts, requeues ---------------------------------------------------------------------------
def test_requeue_interrupted_runs_the_job_first_and_gives_up_after_three_tries(open_jobs):
    q = open_jobs()
    a, b = add(q, 2)
    assert q.claim_next("w1").id == a
    # The server was killed: a new handle (as after a restart) finds `a` still running.
    q2 = open_jobs()
    assert q2.requeue_interrupted() == [a]
    assert q2.get(a).state == QUEUED
    assert q2.claim_next("w1").id == a  # ahead of b, which was submitted after it
    assert q2.requeue_interrupted(worker="w2") == []  # another worker's jobs only
    assert q2.requeue_interrupted(worker="w1") == [a]
    assert q2.claim_next("w1").id == a and q2.get(a).attempts == 3
    assert q2.requeue_interrupted() == []
    job = q2.get(a)
    assert job.state == FAILED and "3 times" in job.error and job.final
    assert q2.claim_next("w1").id == b


def test_requeue_interrupted_keeps_the_order_they_started_in(jobs):
    a, b, c = add(jobs, 3)
    assert [jobs.claim_next(w).id for w in ("w1", "w2")] == [a, b]
    assert jobs.requeue_interrupted() == [a, b]
    assert [jobs.claim_next("w1").id for _ in range(3)] == [a, b, c]


def test_an_interrupted_job_asked_to_stop_is_cancelled(jobs):
    (a,) = add(jobs)
    jobs.claim_next("w1")
    jobs.cancel(a)
    assert jobs.requeue_interrupted() == []
    assert jobs.get(a).state == CANCELLED


def test_clean_shutdown_requeue_does_not_count_as_a_try(jobs):
    a, b = add(jobs, 2)
    for _ in range(5):
        assert jobs.claim_next("w1").id == a
        assert jobs.requeue(a)
    assert jobs.get(a).state == QUEUED and jobs.get(a).attempts == 0 and jobs.get(a).worker is None
    assert jobs.claim_next("w1").id == a  # still first
    assert not jobs.requeue(b)  # not running: nothing to put back


# -- leases ----------------------------------------------------------------------------------------
def test_claim_takes_a_lease_that_renew_extends(jobs):
    (a,) = add(jobs)
    t0 = time.time()
    job = jobs.claim_next("w1", lease=30.0)
    assert job.lease_until == pytest.approx(t0 + 30.0, abs=5)
    assert jobs.renew(a, "w1", lease=120.0)
    assert jobs.get(a).lease_until == pytest.approx(t0 + 120.0, abs=5)
    assert not jobs.renew(a, "w2")  # only the holder renews
    assert jobs.get(a).lease_until == pytest.approx(t0 + 120.0, abs=5)
    assert jobs.requeue_expired(now=t0 + 60.0) == []  # live: left alone
    assert jobs.get(a).state == RUNNING


def test_an_expired_lease_sends_the_job_back_and_the_old_worker_cannot_touch_it(jobs):
    a, _ = add(jobs, 2)
    jobs.claim_next("w1", lease=10.0)
    later = time.time() + 30.0
    assert jobs.requeue_expired(now=later) == [a]
    job = jobs.get(a)
    assert job.state == QUEUED and job.worker is None and job.attempts == 1  # the lost attempt counts
    assert not jobs.renew(a, "w1")  # w1 lost it: it must stop
    assert jobs.claim_next("w2").id == a  # at the head of the queue, ahead of b
    assert jobs.get(a).attempts == 2
    # w1 wakes up: none of its writes land on w2's run.
    assert not jobs.update_progress(a, Progress(9, 9), worker="w1")
    assert not jobs.finish(a, result="result.png", worker="w1")
    assert not jobs.requeue(a, worker="w1")
    assert jobs.get(a).state == RUNNING and jobs.get(a).worker == "w2" and jobs.get(a).progress == Progress()
    assert jobs.update_progress(a, Progress(1, 9), worker="w2")
    assert jobs.finish(a, result="result.png", worker="w2")
    assert jobs.get(a).state == SUCCEEDED


def test_expired_leases_fail_the_job_after_the_last_attempt(jobs):
    (a,) = add(jobs)
    for attempt in (1, 2, 3):
        assert jobs.claim_next(f"w{attempt}", lease=1.0).id == a
        ids = jobs.requeue_expired(max_attempts=3, now=time.time() + 10)
        assert ids == ([a] if attempt < 3 else [])
    job = jobs.get(a)
    assert job.state == FAILED and "3 times" in job.error


def test_claim_by_id_drops_deliveries_of_final_or_live_jobs(jobs):
    a, b = add(jobs, 2)
    job = jobs.claim(b, "w1", lease=30.0)  # a dispatched delivery takes that job, not the oldest
    assert job.id == b and job.state == RUNNING and job.worker == "w1" and job.attempts == 1
    assert jobs.claim(b, "w2") is None  # live elsewhere: dropped
    assert jobs.claim(b, "w1") is None  # a repeated delivery to the holder: dropped too
    assert jobs.get(b).worker == "w1" and jobs.get(b).attempts == 1
    assert jobs.finish(b, worker="w1")
    assert jobs.claim(b, "w2") is None  # final: dropped
    assert jobs.get(b).state == SUCCEEDED
    jobs.cancel(a)
    assert jobs.claim(a, "w1") is None  # cancelled while queued: dropped
    assert jobs.claim(jobs.new_id(), "w1") is None  # unknown: dropped


def test_claim_by_id_takes_over_an_expired_lease_and_counts_the_attempt(jobs):
    (a,) = add(jobs)
    assert jobs.claim(a, "w1", lease=0.05).attempts == 1
    time.sleep(0.2)
    taken = jobs.claim(a, "w2", lease=30.0)
    assert taken is not None and taken.worker == "w2" and taken.attempts == 2
    assert not jobs.renew(a, "w1")
    time.sleep(0.01)
    assert jobs.claim(a, "w3", lease=0.05) is None  # w2's lease is live
    jobs.renew(a, "w2", lease=0.05)
    time.sleep(0.2)
    assert jobs.claim(a, "w3", max_attempts=3).attempts == 3
    jobs.renew(a, "w3", lease=0.05)
    time.sleep(0.2)
    assert jobs.claim(a, "w4", max_attempts=3) is None  # a 4th start: failed instead
    assert jobs.get(a).state == FAILED and "3 times" in jobs.get(a).error


def test_an_expired_job_asked_to_stop_is_cancelled(jobs):
    (a,) = add(jobs)
    jobs.claim_next("w1", lease=1.0)
    jobs.cancel(a)
    assert jobs.requeue_expired(now=time.time() + 10) == []
    assert jobs.get(a).state == CANCELLED


# -- retention ---------------------------------------------------------------------------------------
def test_cleanup_deletes_old_final_jobs_only(jobs):
    old, recent, running, queued = add(jobs, 4)
    for _ in (old, recent, running):
        jobs.claim_next("w1")
    jobs.finish(old)
    jobs.finish(recent)
    now = time.time()
    assert jobs.cleanup(3600, now=now) == []
    assert sorted(jobs.cleanup(3600, now=now + 7200)) == sorted([old, recent])  # finished, older by then
    assert jobs.get(old) is None and jobs.get(recent) is None
    assert jobs.get(running).state == RUNNING and jobs.get(queued).state == QUEUED
    assert jobs.cleanup(3600, now=now + 7200) == []


# -- concurrency ---------------------------------------------------------------------------------------
def test_concurrent_claims_never_hand_out_a_job_twice(open_jobs):
    ids = add(open_jobs(), 60)
    claimed: list[str] = []

    def claim_all(worker: str) -> None:
        mine = open_jobs()  # its own handle, as a worker process has
        while (job := mine.claim_next(worker)) is not None:
            claimed.append(job.id)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(ids)  # each exactly once


def test_concurrent_deliveries_of_one_job_start_it_once(open_jobs):
    ids = add(open_jobs(), 10)
    won: list[tuple[str, str]] = []
    barrier = threading.Barrier(4)

    def deliver(worker: str) -> None:
        mine = open_jobs()
        barrier.wait()
        for job_id in ids:  # every job delivered to every worker at once (a redelivery storm)
            if mine.claim(job_id, worker) is not None:
                won.append((job_id, worker))

    threads = [threading.Thread(target=deliver, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(j for j, _ in won) == sorted(ids)
    check = open_jobs()
    assert all(check.get(j).worker == w and check.get(j).attempts == 1 for j, w in won)
