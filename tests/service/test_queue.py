"""What only the SQLite job store does (its contract is in contracts/test_job_store.py): the job record
beside the files, rewritten on every state change, and databases from before leases."""

from __future__ import annotations

import json
import sqlite3

from impasto.service.files import LocalFileStore
from impasto.service.queue import RECORD_NAME, SQLiteJobStore
from impasto.service.stores import QUEUED, RUNNING, SUCCEEDED


def test_every_state_change_rewrites_the_record_beside_the_files(tmp_path):
    jobs, files = SQLiteJobStore(tmp_path), LocalFileStore(tmp_path / "jobs")
    job_id = jobs.new_id()
    files.put(job_id, "content-0.png", b"x")
    jobs.submit(job_id, "stylize", {"iters": 3}, {"content": ["content-0.png"]})
    record = tmp_path / "jobs" / job_id / RECORD_NAME

    def recorded() -> dict:
        return json.loads(record.read_text())

    assert recorded()["state"] == QUEUED and recorded()["params"] == json.dumps({"iters": 3})
    jobs.claim_next("w1")
    assert recorded()["state"] == RUNNING and recorded()["worker"] == "w1" and recorded()["lease_until"]
    jobs.finish(job_id, result="result.png")
    assert recorded()["state"] == SUCCEEDED and recorded()["result"] == "result.png"
    assert not list(record.parent.glob("*.part"))  # written atomically: no temporary left


def test_a_database_from_before_leases_and_owners_gains_the_columns(tmp_path):
    db = sqlite3.connect(tmp_path / "jobs.sqlite3")
    db.execute(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, params TEXT NOT NULL, "
        "inputs TEXT NOT NULL, state TEXT NOT NULL, created_at REAL NOT NULL, started_at REAL, finished_at REAL, "
        "progress TEXT NOT NULL DEFAULT '{}', progress_seq INTEGER NOT NULL DEFAULT 0, "
        "preview_seq INTEGER NOT NULL DEFAULT 0, error TEXT, result TEXT, "
        "cancel_requested INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, worker TEXT)"
    )
    old = "ab" * 16
    db.execute(
        "INSERT INTO jobs (id, seq, kind, params, inputs, state, created_at, attempts, worker) "
        "VALUES (?, 1, 'stylize', '{}', '{}', 'running', 1.0, 1, 'w1')",
        (old,),
    )
    db.commit()
    db.close()
    jobs = SQLiteJobStore(tmp_path)
    job = jobs.get(old)
    assert job.owner == "anonymous" and job.lease_until is None
    assert jobs.requeue_expired() == [old]  # a running job with no lease at all: its worker is long gone
    assert jobs.claim_next("w2").id == old and jobs.get(old).lease_until is not None
