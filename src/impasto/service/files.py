"""The local-directory file store (:class:`~impasto.service.stores.FileStore`), the embedded default: a
job's files in ``DATA_DIR/jobs/<id>/``, shared by the server and the local worker processes."""

from __future__ import annotations

import errno
import os
import shutil
import time
from pathlib import Path
from typing import IO, BinaryIO

from ..output import atomic_write
from .stores import valid_id

CHUNK = 1024 * 1024


def check_name(job_id: str, name: str) -> None:
    """ValueError unless ``job_id`` is lowercase hex and ``name`` a plain file name (every store's rule)."""
    if not valid_id(job_id):
        raise ValueError(f"invalid job id {job_id!r}")
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"invalid file name {name!r}")


class LocalFileStore:
    """:class:`~impasto.service.stores.FileStore` in a local directory: ``ROOT/<job id>/<name>``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _dir(self, job_id: str) -> Path:
        if not valid_id(job_id):
            raise ValueError(f"invalid job id {job_id!r}")
        return self.root / job_id

    def _file(self, job_id: str, name: str) -> Path:
        check_name(job_id, name)
        return self.root / job_id / name

    def put(self, job_id: str, name: str, data: bytes | BinaryIO | Path) -> int:
        dst = self._file(job_id, name)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, Path):
            size = data.stat().st_size
            try:
                os.replace(data, dst)  # same file system: atomic, and nothing copied
            except OSError as exc:
                if exc.errno != errno.EXDEV:  # another file system: copy, then remove
                    raise
                with open(data, "rb") as fh:
                    atomic_write(dst, lambda out: shutil.copyfileobj(fh, out, CHUNK))
                data.unlink()
            return size
        if isinstance(data, bytes | bytearray | memoryview):
            blob = bytes(data)
            atomic_write(dst, lambda out: out.write(blob))
            return len(blob)
        written = 0

        def copy(out: IO[bytes]) -> None:
            nonlocal written
            while chunk := data.read(CHUNK):
                out.write(chunk)
                written += len(chunk)

        atomic_write(dst, copy)
        return written

    def get(self, job_id: str, name: str) -> bytes | None:
        try:
            return self._file(job_id, name).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def path(self, job_id: str, name: str) -> Path | None:
        p = self._file(job_id, name)
        return p if p.is_file() else None

    def exists(self, job_id: str, name: str) -> bool:
        return self._file(job_id, name).is_file()

    def delete(self, job_id: str, name: str) -> None:
        self._file(job_id, name).unlink(missing_ok=True)

    def delete_job(self, job_id: str) -> None:
        shutil.rmtree(self._dir(job_id), ignore_errors=True)

    def job_ids(self, *, older_than: float | None = None, now: float | None = None) -> list[str]:
        cutoff = None if older_than is None else (time.time() if now is None else now) - older_than
        ids = []
        for d in self.root.iterdir():
            if not valid_id(d.name):
                continue
            try:
                changed = max([d.stat().st_mtime, *(f.stat().st_mtime for f in d.iterdir())])
            except (FileNotFoundError, NotADirectoryError):
                continue
            if cutoff is None or changed < cutoff:
                ids.append(d.name)
        return sorted(ids)
