"""A broken queue database (issue 13, finding 6): `impasto serve` refuses to start on a truncated,
half-truncated or garbage `jobs.sqlite3` whose jobs still exist — one line, exit 2, the way out named —
and `impasto serve --recover` rebuilds the queue from the records kept beside each job's files."""

from __future__ import annotations

import json
import socket

import pytest

from impasto.service.files import LocalFileStore
from impasto.service.queue import RECORD_NAME, SQLiteJobStore
from impasto.service.recover import database_problem, recover
from impasto.service.stores import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED

from .conftest import Server, final, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_jobs(data_dir, tiny_images) -> dict[str, str]:
    """Eight jobs in every state, each with its input files (and a result for the finished ones)."""
    q = SQLiteJobStore(data_dir)
    files = LocalFileStore(data_dir / "jobs")
    ids = []
    for i in range(8):
        job_id = q.new_id()
        files.put(job_id, "content-0.jpg", tiny_images["content"])
        files.put(job_id, "style-0.png", tiny_images["style"])
        q.submit(
            job_id,
            "stylize",
            {"size": 32, "iters": 2 + i},
            {"content": ["content-0.jpg"], "style": ["style-0.png"]},
        )
        ids.append(job_id)
    states = {}
    for job_id, outcome in zip(
        ids, (SUCCEEDED, SUCCEEDED, FAILED, CANCELLED, RUNNING, QUEUED, QUEUED, QUEUED), strict=True
    ):
        if outcome == QUEUED:
            states[job_id] = QUEUED
            continue
        assert q.claim_next("w1").id == job_id
        if outcome == SUCCEEDED:
            files.put(job_id, "result.png", tiny_images["style"])
            q.finish(job_id, result="result.png")
        elif outcome == FAILED:
            q.fail(job_id, "style image is not a readable image")
        elif outcome == CANCELLED:
            q.cancel(job_id)
            q.finish(job_id, state=CANCELLED)
        states[job_id] = outcome
    q.close()
    return states


def break_db(data_dir, how: str) -> None:
    db = data_dir / "jobs.sqlite3"
    for side in ("jobs.sqlite3-wal", "jobs.sqlite3-shm"):  # the damage is to the database file itself
        (data_dir / side).unlink(missing_ok=True)
    blob = db.read_bytes()
    if how == "empty":
        db.write_bytes(b"")
    elif how == "half":
        db.write_bytes(blob[: len(blob) // 2])
    elif how == "garbage":
        db.write_bytes(b"impasto?" * (len(blob) // 8))
    elif how == "missing":
        db.unlink()


def checkpoint(data_dir) -> None:
    """Move the write-ahead log into the database file (as SQLite does on its own every 1000 pages)."""
    import sqlite3

    db = sqlite3.connect(data_dir / "jobs.sqlite3")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def test_records_follow_every_state_change(tmp_path, tiny_images):
    states = make_jobs(tmp_path, tiny_images)
    for job_id, state in states.items():
        record = json.loads((tmp_path / "jobs" / job_id / RECORD_NAME).read_text())
        assert record["id"] == job_id and record["state"] == state
    assert database_problem(tmp_path) is None


@pytest.mark.parametrize("how", ["empty", "half", "garbage", "missing"])
def test_a_broken_database_is_refused_with_one_line(run_cli, tmp_path, tiny_images, how):
    make_jobs(tmp_path, tiny_images)
    checkpoint(tmp_path)
    break_db(tmp_path, how)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    code, _, err = run_cli("serve", "--port", free_port(), "--data-dir", tmp_path)
    assert code == 2, err
    assert err.strip().count("\n") == 0 and "Traceback" not in err, err
    assert (
        str(tmp_path / "jobs.sqlite3") in err
        and "impasto serve --recover" in err
        and "8 job record(s)" in err
    )
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and p.name != "server.lock"}
    assert after == before  # the database untouched, nothing created beside it


@pytest.mark.parametrize("how", ["empty", "half", "garbage"])
def test_recover_rebuilds_every_job_and_keeps_the_broken_file(tmp_path, tiny_images, how):
    states = make_jobs(tmp_path, tiny_images)
    checkpoint(tmp_path)
    break_db(tmp_path, how)
    broken = (tmp_path / "jobs.sqlite3").read_bytes()
    done = recover(tmp_path)
    assert done.restored == 8 and done.kept == 0 and not done.unreadable
    assert done.moved_to is not None and done.moved_to.read_bytes() == broken  # moved aside, not deleted
    assert database_problem(tmp_path) is None
    q = SQLiteJobStore(tmp_path)
    files = LocalFileStore(tmp_path / "jobs")
    for job_id, state in states.items():
        job = q.get(job_id)
        assert job.state == state and job.params["size"] == 32
        assert files.exists(job_id, job.inputs["content"][0])
    ordered = [j.id for j in sorted(q.list(limit=20), key=lambda j: j.created_at)]
    assert ordered == list(states)
    assert q.claim_next("w1").id == next(
        j for j, s in states.items() if s == QUEUED
    )  # the queue order is kept
    assert recover(tmp_path).restored == 0  # again on a healthy database: nothing moved, nothing doubled
    assert len(q.list(limit=20)) == 8


def test_serve_recover_serves_the_jobs_and_their_files(tmp_path, tiny_images):
    data = tmp_path / "data"
    states = make_jobs(data, tiny_images)
    checkpoint(data)
    break_db(data, "empty")
    server = Server(data, "--threads", "1", "--recover").start()
    try:
        with server.client() as client:
            jobs = {j["id"]: j for j in client.get("/v1/jobs").json()["jobs"]}
            assert set(jobs) == set(states)
            for job_id, state in states.items():
                if state in (SUCCEEDED, FAILED, CANCELLED):
                    assert jobs[job_id]["state"] == state
            done = next(j for j, s in states.items() if s == SUCCEEDED)
            assert client.get(f"/v1/jobs/{done}/result").content == tiny_images["style"]
            for job_id in (j for j, s in states.items() if s == QUEUED):
                assert jobs[job_id]["state"] in (QUEUED, RUNNING, SUCCEEDED)
            interrupted = next(j for j, s in states.items() if s == RUNNING)  # runs again, first
            done = wait_for(client, interrupted, final, timeout=120)
            assert done["state"] == SUCCEEDED and done["attempts"] == 2
    finally:
        server.stop()
    assert "recovered 8 job(s)" in server.log.read_text()
