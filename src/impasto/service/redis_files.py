"""The file store of the scale-out backend: a job's files as fields of one Redis hash, with a TTL.

Why blobs in Redis rather than a shared directory: a worker then needs nothing but the Redis URL — no
NFS mount to set up, secure and keep consistent on every machine, no paths that must agree between the
API and the workers — and a file becomes visible to every process atomically, with the job's retention
as its expiry, so an abandoned upload cannot be forgotten on a disk. The price is Redis memory: a job
holds its uploads (at most ``--max-upload-mb`` each), one preview, one checkpoint and its result until
retention deletes it; docs/SCALING.md counts it. Redis must run with ``maxmemory-policy noeviction``
(an evicted blob would be a lost job); at ``maxmemory`` a write fails and the API answers 507.

Keys (``PREFIX`` defaults to ``impasto:``): ``PREFIX files:<id>`` — hash of file name → bytes, expiring
``ttl`` seconds after its last write; ``PREFIX files`` — sorted set of job ids by last write (the sweep of
uploads whose job was never recorded).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from ..output import atomic_write
from .files import check_name  # every file store's rule for ids and names
from .redis_client import check_url, connect, guarded


class RedisFileStore:
    """:class:`~impasto.service.stores.FileStore` in Redis. ``ttl``: seconds a job's files live after
    their last write (the service's retention plus the longest a job may run); ``cache_dir``: where
    :meth:`path` puts local copies (default: a fresh temporary directory of this process);
    ``patience``: as for :class:`~impasto.service.redis_jobs.RedisJobStore`."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float,
        prefix: str = "impasto:",
        cache_dir: str | Path | None = None,
        patience: float = 0.0,
    ) -> None:
        if not ttl > 0:
            raise ValueError(f"ttl must be positive, got {ttl}")
        self.url = check_url(url)
        self.prefix, self.ttl_ms, self.patience = prefix, int(ttl * 1000), patience
        self.client = connect(url)
        self.cache = (
            Path(cache_dir) if cache_dir is not None else Path(tempfile.mkdtemp(prefix="impasto-files-"))
        )
        self.cache.mkdir(parents=True, exist_ok=True)

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}files:{job_id}"

    def _now(self) -> float:
        seconds, micros = self.client.time()
        return seconds + micros / 1e6

    @guarded
    def put(self, job_id: str, name: str, data: bytes | BinaryIO | Path) -> int:
        check_name(job_id, name)
        if isinstance(data, Path):
            blob = data.read_bytes()
        elif isinstance(data, bytes | bytearray | memoryview):
            blob = bytes(data)
        else:
            blob = data.read()
        pipe = self.client.pipeline(transaction=True)  # MULTI/EXEC: the file and its expiry together
        pipe.hset(self._key(job_id), name, blob)
        pipe.pexpire(self._key(job_id), self.ttl_ms)
        pipe.zadd(f"{self.prefix}files", {job_id: self._now()})
        pipe.execute()
        if isinstance(data, Path):
            data.unlink(missing_ok=True)
        return len(blob)

    @guarded
    def get(self, job_id: str, name: str) -> bytes | None:
        check_name(job_id, name)
        return self.client.hget(self._key(job_id), name)

    def path(self, job_id: str, name: str) -> Path | None:
        blob = self.get(job_id, name)
        if blob is None:
            return None
        d = self.cache / job_id
        d.mkdir(parents=True, exist_ok=True)
        local = d / name
        atomic_write(local, lambda fh: fh.write(blob))  # a reader of the previous copy keeps its file
        return local

    @guarded
    def exists(self, job_id: str, name: str) -> bool:
        check_name(job_id, name)
        return bool(self.client.hexists(self._key(job_id), name))

    @guarded
    def delete(self, job_id: str, name: str) -> None:
        check_name(job_id, name)
        self.client.hdel(self._key(job_id), name)
        (self.cache / job_id / name).unlink(missing_ok=True)

    @guarded
    def delete_job(self, job_id: str) -> None:
        check_name(job_id, "x")
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self._key(job_id))
        pipe.zrem(f"{self.prefix}files", job_id)
        pipe.execute()
        self.forget(job_id)

    def forget(self, job_id: str) -> None:
        """Drop this process's local copies of the job's files (the stored ones stay)."""
        shutil.rmtree(self.cache / job_id, ignore_errors=True)

    @guarded
    def job_ids(self, *, older_than: float | None = None, now: float | None = None) -> list[str]:
        index = f"{self.prefix}files"
        top = "+inf" if older_than is None else f"({(self._now() if now is None else now) - older_than:.6f}"
        ids = [i.decode() for i in self.client.zrangebyscore(index, "-inf", top)]
        pipe = self.client.pipeline(transaction=False)
        for job_id in ids:
            pipe.exists(self._key(job_id))
        alive = pipe.execute()
        expired = [job_id for job_id, n in zip(ids, alive, strict=True) if not n]
        if expired:  # expired by their TTL: only the index entry is left
            self.client.zrem(index, *expired)
        return [job_id for job_id, n in zip(ids, alive, strict=True) if n]

    def close(self) -> None:
        """Release the connections (they reopen on demand); the local copies stay until :meth:`forget`."""
        self.client.connection_pool.disconnect(inuse_connections=False)
