"""The queue database at start: refused when it is unreadable, or empty while job records exist, and
rebuilt from the records kept beside each job's files (``impasto serve --recover``).

Every state change of a job rewrites ``DATA_DIR/jobs/<id>/job.json`` with its row (see
:class:`~impasto.service.queue.SQLiteJobStore`), so the files on disk are enough to put the queue back: a
broken database is moved aside (never deleted) and a fresh one is filled from the records.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImpastoError
from .queue import RECORD_NAME, SQLiteJobStore

DB_NAME = "jobs.sqlite3"
_SIDE_FILES = ("-wal", "-shm")  # SQLite's write-ahead log and its index, moved with the database


def job_records(data_dir: str | Path) -> list[Path]:
    """``jobs/<id>/job.json`` of every job directory that has one."""
    root = Path(data_dir) / "jobs"
    return sorted(root.glob(f"*/{RECORD_NAME}")) if root.is_dir() else []


def database_problem(data_dir: str | Path) -> str | None:
    """Why the queue database cannot be used as it is (one line naming the file and the way out), or None."""
    path = Path(data_dir) / DB_NAME
    records = job_records(data_dir)
    way_out = (
        f"start with 'impasto serve --recover' to move it aside and rebuild the queue from the "
        f"{len(records)} job record(s) in '{path.parent / 'jobs'}'"
    )
    if not path.exists():
        return (
            f"the queue database '{path}' is missing but {len(records)} job record(s) exist; {way_out}"
            if records
            else None
        )
    try:
        rows = _count_rows(path)
    except sqlite3.DatabaseError as exc:
        return f"the queue database '{path}' is unreadable ({exc}); {way_out}"
    except OSError as exc:
        return f"the queue database '{path}' is unreadable ({exc.strerror or exc}); {way_out}"
    if rows == 0 and records:
        size = path.stat().st_size
        what = "empty (0 bytes)" if size == 0 else "empty (no jobs)"
        return f"the queue database '{path}' is {what} but {len(records)} job record(s) exist; {way_out}"
    return None


def _count_rows(path: Path) -> int:
    """Jobs in the database (0 for an empty file); raises ``sqlite3.DatabaseError`` when it is damaged."""
    if path.stat().st_size == 0:
        return 0
    # Read-only; with no write-ahead log beside it, "immutable" too, so the check creates no -shm file.
    wal = Path(f"{path}-wal").exists()
    db = sqlite3.connect(f"file:{path}?mode=ro{'' if wal else '&immutable=1'}", uri=True, timeout=30.0)
    try:
        (check,) = db.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check: {check}")
        if (
            db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").fetchone()
            is None
        ):
            return 0
        (n,) = db.execute("SELECT COUNT(*) FROM jobs").fetchone()
        return n
    finally:
        db.close()


@dataclass(frozen=True)
class Recovery:
    restored: int
    """Jobs put back from their records."""
    kept: int
    """Records whose job was already in a readable database."""
    unreadable: list[Path]
    """Records that could not be read (left where they are)."""
    moved_to: Path | None
    """Where the broken database went (None when it was healthy or missing)."""


def recover(data_dir: str | Path) -> Recovery:
    """Move a broken or empty database aside and rebuild the queue from the job records.

    A healthy database is kept; only the jobs missing from it are added. Jobs recorded as running go
    back to the queue when the server starts (as after any interrupted run)."""
    data_dir = Path(data_dir)
    path = data_dir / DB_NAME
    moved_to = None
    if path.exists() and database_problem(data_dir) is not None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        moved_to = path.with_name(f"{DB_NAME}.broken-{stamp}")
        n = 1
        while moved_to.exists():
            n += 1
            moved_to = path.with_name(f"{DB_NAME}.broken-{stamp}-{n}")
        try:
            for suffix in ("", *_SIDE_FILES):
                side = Path(f"{path}{suffix}")
                if side.exists():
                    side.rename(f"{moved_to}{suffix}")
        except OSError as exc:
            raise ImpastoError(
                f"cannot move the broken queue database '{path}' aside: {exc.strerror}"
            ) from None
    queue = SQLiteJobStore(data_dir)
    try:
        restored, kept, unreadable = _insert_records(queue, job_records(data_dir))
    finally:
        queue.close()
    return Recovery(restored, kept, unreadable, moved_to)


def _insert_records(queue: SQLiteJobStore, records: list[Path]) -> tuple[int, int, list[Path]]:
    db = queue._db()
    columns = [r[1] for r in db.execute("PRAGMA table_info(jobs)").fetchall()]
    restored = kept = 0
    unreadable: list[Path] = []
    with queue._tx() as tx:
        for record in records:
            try:
                row = json.loads(record.read_text(encoding="utf-8"))
                ok = isinstance(row, dict) and row.get("id") == record.parent.name
            except (OSError, ValueError):
                ok = False
            if not ok:
                unreadable.append(record)
                continue
            names = [c for c in columns if c in row]
            try:
                cur = tx.execute(
                    f"INSERT OR IGNORE INTO jobs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                    [row[c] for c in names],
                )
            except (sqlite3.IntegrityError, sqlite3.InterfaceError):  # a required column missing, a bad type
                unreadable.append(record)
                continue
            if cur.rowcount:
                restored += 1
            else:
                kept += 1
    return restored, kept, unreadable
