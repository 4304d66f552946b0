"""The SQLite job store (:class:`~impasto.service.stores.JobStore`), the embedded default.

One row per job in ``DATA_DIR/jobs.sqlite3`` (WAL mode: readers never block the writer, a SIGKILL never
corrupts it), safe to share between the server's threads and the worker processes of the local
dispatcher. A copy of each row is kept in ``DATA_DIR/jobs/<id>/job.json`` beside the job's files (the
local file store's directory), rewritten atomically on every state change (in the same transaction), from
which ``impasto serve --recover`` rebuilds a lost or broken database (:mod:`impasto.service.recover`).
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from operator import methodcaller
from pathlib import Path
from types import TracebackType
from typing import Any

from ..output import atomic_write
from .stores import (
    CANCELLED,
    FAILED,
    LEASE,
    MAX_ATTEMPTS,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    Job,
    JobStore,
    Progress,
    valid_id,
)

RECORD_NAME = "job.json"  # the job's row, kept beside its files


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    inputs TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    progress TEXT NOT NULL DEFAULT '{}',
    progress_seq INTEGER NOT NULL DEFAULT 0,
    preview_seq INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    result TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    owner TEXT NOT NULL DEFAULT 'anonymous',
    lease_until REAL
);
CREATE INDEX IF NOT EXISTS jobs_state_seq ON jobs (state, seq);
CREATE INDEX IF NOT EXISTS jobs_seq ON jobs (seq);
"""


_ADDED_COLUMNS = {  # columns a database from an older version lacks, and how to add them
    "owner": "ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT 'anonymous'",  # theirs: 'anonymous'
    "lease_until": "ALTER TABLE jobs ADD COLUMN lease_until REAL",
}


class SQLiteJobStore(JobStore):
    """:class:`~impasto.service.stores.JobStore` in one SQLite file; safe to share between processes and
    threads (each thread has its own connection)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.records_root = self.data_dir / "jobs"  # job.json beside each job's files
        self.records_root.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "jobs.sqlite3"
        self._local = threading.local()
        self._db().executescript(_SCHEMA)
        columns = {r["name"] for r in self._db().execute("PRAGMA table_info(jobs)")}
        for name, sql in _ADDED_COLUMNS.items():
            if name not in columns:
                self._db().execute(sql)

    # -- connections -------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process kills
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    class _Tx:
        def __init__(self, db: sqlite3.Connection, immediate: bool) -> None:
            self.db, self.immediate = db, immediate

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE" if self.immediate else "BEGIN")
            return self.db

        def __exit__(
            self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
        ) -> None:
            self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")

    def _tx(self, immediate: bool = True) -> _Tx:
        return self._Tx(self._db(), immediate)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- helpers -------------------------------------------------------------------------------
    def record_dir(self, job_id: str) -> Path:
        """Where the job's record (``job.json``) is kept: its directory in the local file store."""
        if not valid_id(job_id):
            raise ValueError(f"invalid job id {job_id!r}")
        return self.records_root / job_id

    def _save_records(self, db: sqlite3.Connection, ids: Iterable[str]) -> None:
        """Write each job's row to ``JOBDIR/job.json`` (inside the transaction: no record, no change)."""
        for job_id in ids:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            d = self.record_dir(job_id)
            if row is not None and d.is_dir():
                record = json.dumps(dict(row), indent=1).encode()
                atomic_write(d / RECORD_NAME, methodcaller("write", record))

    @staticmethod
    def _holder(worker: str | None) -> tuple[str, tuple[str, ...]]:
        """The SQL condition (and its parameter) "still held by ``worker``", or nothing when None."""
        return ("", ()) if worker is None else (" AND worker = ?", (worker,))

    def _update_running(
        self, db: sqlite3.Connection, changes: str, values: tuple[Any, ...], job_id: str, worker: str | None
    ) -> bool:
        """``UPDATE jobs SET {changes}`` (``values`` for its parameters) of a running job, only while
        ``worker`` holds it when given; whether it changed."""
        held, args = self._holder(worker)
        sql = f"UPDATE jobs SET {changes} WHERE id = ? AND state = ?{held}"
        return bool(db.execute(sql, (*values, job_id, RUNNING, *args)).rowcount)

    # -- the interface (its part that is the same for every store is in JobStore) ----------------------
    def _add(
        self, job_id: str, kind: str, params: str, inputs: str, owner: str, max_pending: int | None
    ) -> bool:
        with self._tx() as db:
            if max_pending is not None:
                (n,) = db.execute(
                    "SELECT COUNT(*) FROM jobs WHERE state IN (?, ?)", (QUEUED, RUNNING)
                ).fetchone()
                if n >= max_pending:
                    return False
            (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()
            db.execute(
                "INSERT INTO jobs (id, seq, kind, params, inputs, state, created_at, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, seq, kind, params, inputs, QUEUED, time.time(), owner),
            )
            self.record_dir(job_id).mkdir(parents=True, exist_ok=True)
            self._save_records(db, [job_id])
        return True

    def get(self, job_id: str) -> Job | None:
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else Job.from_record(dict(row))

    def list(self, *, limit: int = 50, state: str | None = None, owner: str | None = None) -> list[Job]:
        where = [(c, v) for c, v in (("state", state), ("owner", owner)) if v is not None]
        sql = "WHERE " + " AND ".join(f"{c} = ?" for c, _ in where) if where else ""
        rows = self._db().execute(
            f"SELECT * FROM jobs {sql} ORDER BY created_at DESC LIMIT ?", (*(v for _, v in where), limit)
        )
        return [Job.from_record(dict(r)) for r in rows.fetchall()]

    def pending(self) -> int:
        (n,) = (
            self._db()
            .execute("SELECT COUNT(*) FROM jobs WHERE state IN (?, ?)", (QUEUED, RUNNING))
            .fetchone()
        )
        return int(n)

    def cancel(self, job_id: str) -> Job | None:
        with self._tx() as db:
            before = db.total_changes
            db.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, cancel_requested = 1 WHERE id = ? AND state = ?",
                (CANCELLED, time.time(), job_id, QUEUED),
            )
            db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = ?", (job_id, RUNNING))
            if db.total_changes != before:
                self._save_records(db, [job_id])
        return self.get(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        row = self._db().execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row is None or bool(row["cancel_requested"])

    def _start(self, db: sqlite3.Connection, job_id: str, worker: str, lease: float) -> None:
        now = time.time()
        db.execute(
            "UPDATE jobs SET state = ?, started_at = ?, worker = ?, attempts = attempts + 1, lease_until = ?, "
            "progress = '{}', progress_seq = progress_seq + 1 WHERE id = ?",
            (RUNNING, now, worker, now + lease, job_id),
        )
        self._save_records(db, [job_id])

    def claim_next(self, worker: str, *, lease: float = LEASE) -> Job | None:
        with self._tx() as db:
            row = db.execute("SELECT id FROM jobs WHERE state = ? ORDER BY seq LIMIT 1", (QUEUED,)).fetchone()
            if row is None:
                return None
            self._start(db, row["id"], worker, lease)
        return self.get(row["id"])

    def claim(
        self, job_id: str, worker: str, *, lease: float = LEASE, max_attempts: int = MAX_ATTEMPTS
    ) -> Job | None:
        with self._tx() as db:
            row = db.execute(
                "SELECT state, lease_until, attempts, cancel_requested FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            if row is None or row["state"] not in (QUEUED, RUNNING):
                return None
            if row["state"] == RUNNING:
                if row["lease_until"] is not None and row["lease_until"] >= time.time():
                    return None  # live elsewhere (or a repeated delivery to this worker)
                if self._give_up(db, job_id, row, max_attempts):
                    return None
            self._start(db, job_id, worker, lease)
        return self.get(job_id)

    def renew(self, job_id: str, worker: str, *, lease: float = LEASE) -> bool:
        with self._tx() as db:
            return self._update_running(db, "lease_until = ?", (time.time() + lease,), job_id, worker)

    def update_progress(
        self, job_id: str, progress: Progress, *, preview: bool = False, worker: str | None = None
    ) -> bool:
        with self._tx() as db:
            changed = self._update_running(
                db,
                "progress = ?, progress_seq = progress_seq + 1, preview_seq = preview_seq + ?",
                (progress.to_json(), 1 if preview else 0),
                job_id,
                worker,
            )
            row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return changed and not (row is None or row["cancel_requested"])

    def _end(
        self, job_id: str, state: str, result: str | None, error: str | None, worker: str | None
    ) -> bool:
        with self._tx() as db:
            changed = self._update_running(
                db,
                "state = ?, finished_at = ?, result = ?, error = ?, worker = NULL, lease_until = NULL",
                (state, time.time(), result, error),
                job_id,
                worker,
            )
            self._save_records(db, [job_id] if changed else [])
        return changed

    def requeue(self, job_id: str, *, worker: str | None = None) -> bool:
        with self._tx() as db:
            changed = self._update_running(
                db,
                "state = ?, worker = NULL, lease_until = NULL, attempts = MAX(attempts - 1, 0), "
                "seq = (SELECT COALESCE(MIN(seq), 1) - 1 FROM jobs)",
                (QUEUED,),
                job_id,
                worker,
            )
            self._save_records(db, [job_id] if changed else [])
        return changed

    def _give_up(self, db: sqlite3.Connection, job_id: str, row: sqlite3.Row, max_attempts: int) -> bool:
        """A running job whose worker is gone: cancelled when asked to, failed after ``max_attempts``
        starts (True, and recorded); False when it may run again."""
        now = time.time()
        if row["cancel_requested"]:
            db.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, worker = NULL, lease_until = NULL WHERE id = ?",
                (CANCELLED, now, job_id),
            )
        elif row["attempts"] >= max_attempts:
            db.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, worker = NULL, lease_until = NULL, error = ? "
                "WHERE id = ?",
                (FAILED, now, f"the worker stopped {row['attempts']} times while running this job", job_id),
            )
        else:
            return False
        self._save_records(db, [job_id])
        return True

    def _requeue_lost(self, where: str, args: tuple[Any, ...], max_attempts: int) -> builtins.list[str]:
        with self._tx() as db:
            rows = db.execute(
                f"SELECT id, attempts, cancel_requested FROM jobs WHERE state = ?{where} ORDER BY seq",
                (RUNNING, *args),
            ).fetchall()
            requeued = []
            for r in reversed(rows):  # each to the head of the queue: the first started ends up first
                if not self._give_up(db, r["id"], r, max_attempts):
                    db.execute(
                        "UPDATE jobs SET state = ?, worker = NULL, lease_until = NULL, "
                        "seq = (SELECT COALESCE(MIN(seq), 1) - 1 FROM jobs) WHERE id = ?",
                        (QUEUED, r["id"]),
                    )
                    self._save_records(db, [r["id"]])
                    requeued.append(r["id"])
        return requeued[::-1]

    def requeue_expired(
        self, *, max_attempts: int = MAX_ATTEMPTS, now: float | None = None
    ) -> builtins.list[str]:
        now = time.time() if now is None else now
        return self._requeue_lost(" AND (lease_until IS NULL OR lease_until < ?)", (now,), max_attempts)

    def requeue_interrupted(
        self, *, worker: str | None = None, max_attempts: int = MAX_ATTEMPTS
    ) -> builtins.list[str]:
        held, args = self._holder(worker)
        return self._requeue_lost(held, args, max_attempts)

    def cleanup(self, older_than: float, *, now: float | None = None) -> builtins.list[str]:
        cutoff = (time.time() if now is None else now) - older_than
        with self._tx() as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE state IN (?, ?, ?) AND finished_at < ?",
                (SUCCEEDED, FAILED, CANCELLED, cutoff),
            ).fetchall()
            db.executemany("DELETE FROM jobs WHERE id = ?", [(r["id"],) for r in rows])
        return [r["id"] for r in rows]
