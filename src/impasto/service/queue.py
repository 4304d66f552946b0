"""The job queue behind the web service: a small interface and its SQLite implementation.

The API and the workers only talk to :class:`JobQueue`, so a Celery + Redis backend can replace
:class:`SQLiteQueue` later without touching either. The SQLite backend keeps one row per job in
``DATA_DIR/jobs.sqlite3`` (WAL mode: readers never block the writer, a SIGKILL never corrupts it) and
each job's files (inputs, preview, result) in ``DATA_DIR/jobs/<id>/``, with a copy of its row in
``job.json`` beside them, rewritten atomically on every state change (in the same transaction), from
which ``impasto serve --recover`` rebuilds a lost or broken database (:mod:`impasto.service.recover`).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..images import atomic_write
from .stores import CANCELLED, FAILED, FINAL, QUEUED, RUNNING, STATES, SUCCEEDED, Job, Progress

__all__ = ["CANCELLED", "FAILED", "FINAL", "QUEUED", "RUNNING", "STATES", "SUCCEEDED", "Job", "Progress"]
RECORD_NAME = "job.json"  # the job's row, kept beside its files


class JobQueue(Protocol):
    """What the API and the workers need from a queue (implemented by :class:`SQLiteQueue`)."""

    def job_dir(self, job_id: str) -> Path:
        """The directory holding the job's input and output files."""

    def new_id(self) -> str:
        """A fresh, unguessable job id (its directory may be filled before :meth:`submit`)."""

    def submit(
        self,
        job_id: str,
        kind: str,
        params: dict[str, Any],
        inputs: dict[str, list[str]],
        *,
        max_pending: int | None = None,
        owner: str = "anonymous",
    ) -> Job | None:
        """Enqueue a job whose files are already in :meth:`job_dir`; None when ``max_pending`` is reached."""

    def get(self, job_id: str) -> Job | None: ...

    def list(self, *, limit: int = 50, state: str | None = None, owner: str | None = None) -> list[Job]:
        """Newest first; only ``owner``'s jobs unless it is None."""

    def pending(self) -> int:
        """Jobs queued or running."""

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job at once, ask a running one to stop; final jobs are left alone."""

    def claim_next(self, worker: str) -> Job | None:
        """Atomically take the oldest queued job and mark it running for ``worker``."""

    def update_progress(self, job_id: str, progress: Progress, *, preview: bool = False) -> bool:
        """Record progress (and that a new preview was written); returns False when cancel was requested."""

    def finish(
        self, job_id: str, *, state: str = SUCCEEDED, result: str | None = None, error: str | None = None
    ) -> None:
        """Move a running job to a final state."""

    def fail(self, job_id: str, error: str) -> None: ...

    def requeue(self, job_id: str) -> None:
        """Put a running job back at the head of the queue (worker shut down cleanly mid-job)."""

    def requeue_interrupted(self, *, worker: str | None = None, max_attempts: int = 3) -> int:
        """Jobs left running by a dead worker (all workers when None) go back to the queue, or fail
        after ``max_attempts`` tries. Returns how many were requeued or failed."""

    def cleanup(self, older_than: float, *, now: float | None = None) -> int:
        """Delete final jobs (row and files) that finished more than ``older_than`` seconds ago."""


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
    owner TEXT NOT NULL DEFAULT 'anonymous'
);
CREATE INDEX IF NOT EXISTS jobs_state_seq ON jobs (state, seq);
CREATE INDEX IF NOT EXISTS jobs_seq ON jobs (seq);
"""


class SQLiteQueue:
    """:class:`JobQueue` in one SQLite file; safe to share between processes and threads."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.jobs_root = self.data_dir / "jobs"
        self.jobs_root.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "jobs.sqlite3"
        self._local = threading.local()
        self._db().executescript(_SCHEMA)
        columns = {r["name"] for r in self._db().execute("PRAGMA table_info(jobs)")}
        if "owner" not in columns:  # a database from before jobs had owners: theirs is 'anonymous'
            self._db().execute("ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT 'anonymous'")

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

        def __exit__(self, exc_type, exc, tb) -> None:
            self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")

    def _tx(self, immediate: bool = True) -> _Tx:
        return self._Tx(self._db(), immediate)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _job(row: sqlite3.Row | None) -> Job | None:
        if row is None:
            return None
        p = json.loads(row["progress"] or "{}")
        return Job(
            id=row["id"],
            kind=row["kind"],
            params=json.loads(row["params"]),
            inputs=json.loads(row["inputs"]),
            state=row["state"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            progress=Progress(
                p.get("step", 0),
                p.get("total", 0),
                p.get("losses", {}),
                p.get("elapsed", 0.0),
                p.get("eta"),
                p.get("stage", ""),
            ),
            progress_seq=row["progress_seq"],
            preview_seq=row["preview_seq"],
            error=row["error"],
            result=row["result"],
            cancel_requested=bool(row["cancel_requested"]),
            attempts=row["attempts"],
            worker=row["worker"],
            owner=row["owner"],
        )

    def _save_records(self, db: sqlite3.Connection, ids) -> None:
        """Write each job's row to ``JOBDIR/job.json`` (inside the transaction: no record, no change)."""
        for job_id in ids:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            d = self.job_dir(job_id)
            if row is not None and d.is_dir():
                record = json.dumps(dict(row), indent=1).encode()
                atomic_write(d / RECORD_NAME, lambda fh, record=record: fh.write(record))

    def job_dir(self, job_id: str) -> Path:
        if not job_id or not all(c in "0123456789abcdef" for c in job_id):
            raise ValueError(f"invalid job id {job_id!r}")
        return self.jobs_root / job_id

    def new_id(self) -> str:
        return uuid.uuid4().hex

    # -- the interface ---------------------------------------------------------------------------
    def submit(self, job_id, kind, params, inputs, *, max_pending=None, owner="anonymous"):
        with self._tx() as db:
            if max_pending is not None:
                (n,) = db.execute(
                    "SELECT COUNT(*) FROM jobs WHERE state IN (?, ?)", (QUEUED, RUNNING)
                ).fetchone()
                if n >= max_pending:
                    return None
            (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()
            db.execute(
                "INSERT INTO jobs (id, seq, kind, params, inputs, state, created_at, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, seq, kind, json.dumps(params), json.dumps(inputs), QUEUED, time.time(), owner),
            )
            self._save_records(db, [job_id])
        return self.get(job_id)

    def get(self, job_id):
        return self._job(self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def list(self, *, limit=50, state=None, owner=None):
        where = [(c, v) for c, v in (("state", state), ("owner", owner)) if v is not None]
        sql = "WHERE " + " AND ".join(f"{c} = ?" for c, _ in where) if where else ""
        rows = self._db().execute(
            f"SELECT * FROM jobs {sql} ORDER BY created_at DESC LIMIT ?", (*(v for _, v in where), limit)
        )
        return [self._job(r) for r in rows.fetchall()]

    def pending(self):
        (n,) = (
            self._db()
            .execute("SELECT COUNT(*) FROM jobs WHERE state IN (?, ?)", (QUEUED, RUNNING))
            .fetchone()
        )
        return n

    def cancel(self, job_id):
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

    def claim_next(self, worker):
        with self._tx() as db:
            row = db.execute("SELECT id FROM jobs WHERE state = ? ORDER BY seq LIMIT 1", (QUEUED,)).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = ?, started_at = ?, worker = ?, attempts = attempts + 1, "
                "progress = '{}', progress_seq = progress_seq + 1 WHERE id = ?",
                (RUNNING, time.time(), worker, row["id"]),
            )
            self._save_records(db, [row["id"]])
        return self.get(row["id"])

    def update_progress(self, job_id, progress, *, preview=False):
        p = {
            "step": progress.step,
            "total": progress.total,
            "losses": progress.losses,
            "elapsed": progress.elapsed,
            "eta": progress.eta,
            "stage": progress.stage,
        }
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET progress = ?, progress_seq = progress_seq + 1, preview_seq = preview_seq + ? "
                "WHERE id = ? AND state = ?",
                (json.dumps(p), 1 if preview else 0, job_id, RUNNING),
            )
            row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return not (row is None or row["cancel_requested"])

    def cancel_requested(self, job_id: str) -> bool:
        row = self._db().execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row is None or bool(row["cancel_requested"])

    def finish(self, job_id, *, state=SUCCEEDED, result=None, error=None):
        if state not in FINAL:
            raise ValueError(f"not a final state: {state!r}")
        with self._tx() as db:
            changed = db.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, result = ?, error = ?, worker = NULL "
                "WHERE id = ? AND state = ?",
                (state, time.time(), result, error, job_id, RUNNING),
            ).rowcount
            self._save_records(db, [job_id] if changed else [])

    def fail(self, job_id, error):
        self.finish(job_id, state=FAILED, error=error)

    def requeue(self, job_id):
        with self._tx() as db:
            changed = db.execute(
                "UPDATE jobs SET state = ?, worker = NULL, attempts = MAX(attempts - 1, 0), "
                "seq = (SELECT COALESCE(MIN(seq), 1) - 1 FROM jobs) WHERE id = ? AND state = ?",
                (QUEUED, job_id, RUNNING),
            ).rowcount
            self._save_records(db, [job_id] if changed else [])

    def requeue_interrupted(self, *, worker=None, max_attempts=3):
        with self._tx() as db:
            if worker is None:
                rows = db.execute(
                    "SELECT id, attempts, cancel_requested FROM jobs WHERE state = ?", (RUNNING,)
                )
            else:
                rows = db.execute(
                    "SELECT id, attempts, cancel_requested FROM jobs WHERE state = ? AND worker = ?",
                    (RUNNING, worker),
                )
            rows = rows.fetchall()
            now = time.time()
            for r in rows:
                if r["cancel_requested"]:
                    db.execute(
                        "UPDATE jobs SET state = ?, finished_at = ?, worker = NULL WHERE id = ?",
                        (CANCELLED, now, r["id"]),
                    )
                elif r["attempts"] >= max_attempts:
                    db.execute(
                        "UPDATE jobs SET state = ?, finished_at = ?, worker = NULL, error = ? WHERE id = ?",
                        (
                            FAILED,
                            now,
                            f"the worker stopped {r['attempts']} times while running this job",
                            r["id"],
                        ),
                    )
                else:  # back to the head of the queue: it was started first
                    db.execute(
                        "UPDATE jobs SET state = ?, worker = NULL, "
                        "seq = (SELECT COALESCE(MIN(seq), 1) - 1 FROM jobs) WHERE id = ?",
                        (QUEUED, r["id"]),
                    )
            self._save_records(db, [r["id"] for r in rows])
        return len(rows)

    def cleanup(self, older_than, *, now=None):
        cutoff = (time.time() if now is None else now) - older_than
        with self._tx() as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE state IN (?, ?, ?) AND finished_at < ?",
                (SUCCEEDED, FAILED, CANCELLED, cutoff),
            ).fetchall()
            db.executemany("DELETE FROM jobs WHERE id = ?", [(r["id"],) for r in rows])
        for r in rows:
            shutil.rmtree(self.job_dir(r["id"]), ignore_errors=True)
        # Directories of uploads whose submission never completed (refused, or the server died).
        known = {r["id"] for r in self._db().execute("SELECT id FROM jobs").fetchall()}
        for d in self.jobs_root.iterdir():
            try:
                stale = d.name not in known and d.stat().st_mtime < time.time() - 3600
            except FileNotFoundError:
                continue
            if stale:
                shutil.rmtree(d, ignore_errors=True)
        return len(rows)
