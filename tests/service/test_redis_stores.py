"""What the Redis stores add to the contract suite: many processes racing for one job, leases on the
Redis server's clock, blobs that expire, and a Redis that is away (503) or full (507)."""

from __future__ import annotations

import threading
import time

import pytest

from impasto.service.stores import BackendUnavailable, Progress


@pytest.fixture
def jobs(redis_url):
    from impasto.service.redis_jobs import RedisJobStore

    store = RedisJobStore(redis_url)
    yield store
    store.close()


@pytest.fixture
def files(redis_url, tmp_path):
    from impasto.service.redis_files import RedisFileStore

    store = RedisFileStore(redis_url, ttl=60, cache_dir=tmp_path / "cache")
    yield store
    store.close()


def test_four_clients_claiming_the_same_deliveries_take_each_job_once(jobs, redis_url):
    from impasto.service.redis_jobs import RedisJobStore

    ids = [jobs.new_id() for _ in range(200)]
    for job_id in ids:
        jobs.submit(job_id, "fast", {}, {})
    taken: list[str] = []
    start = threading.Barrier(4)

    def claim_all(worker: str) -> None:  # each with its own connections, as separate machines would be
        store = RedisJobStore(redis_url)
        start.wait()
        taken.extend(job_id for job_id in ids if store.claim(job_id, worker) is not None)
        store.close()

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(taken) == sorted(ids)  # every job taken, none twice
    assert {jobs.get(i).attempts for i in ids} == {1}


def test_lease_expires_on_the_redis_clock_and_only_the_holder_renews(jobs):
    job_id = jobs.new_id()
    jobs.submit(job_id, "fast", {}, {})
    held = jobs.claim(job_id, "a", lease=0.3)
    assert held is not None and 0.2 < held.lease_until - held.started_at <= 0.3 + 1e-3
    assert jobs.claim(job_id, "b") is None  # live elsewhere: the delivery is dropped
    assert not jobs.renew(job_id, "b") and jobs.renew(job_id, "a", lease=0.3)
    assert jobs.requeue_expired() == []
    time.sleep(0.4)
    assert not jobs.update_progress(job_id, Progress(1, 2), worker="b")
    assert jobs.requeue_expired() == [job_id]
    assert not jobs.renew(job_id, "a")  # the old holder learns it lost the job
    again = jobs.claim(job_id, "b")
    assert again.worker == "b" and again.attempts == 2
    assert not jobs.finish(job_id, worker="a") and jobs.finish(job_id, worker="b", result="r.png")


def test_progress_is_written_at_most_once_per_interval(redis_url):
    from impasto.service.redis_jobs import RedisJobStore

    store = RedisJobStore(redis_url, progress_interval=1.0)
    job_id = store.new_id()
    store.submit(job_id, "stylize", {}, {})
    store.claim(job_id, "w")
    seq = store.get(job_id).progress_seq
    for step in range(1, 20):  # 19 steps within far less than a second
        assert store.update_progress(job_id, Progress(step, 100), worker="w")
    assert store.get(job_id).progress_seq == seq + 1 and store.get(job_id).progress.step == 1
    assert store.update_progress(
        job_id, Progress(50, 100), preview=True, worker="w"
    )  # a preview goes through
    assert store.update_progress(job_id, Progress(100, 100), worker="w")  # so does the last step
    assert store.get(job_id).progress_seq == seq + 3
    store.cancel(job_id)
    assert not store.update_progress(job_id, Progress(60, 100), worker="w")  # a cancel is seen at once
    store.close()


def test_files_expire_with_their_ttl(redis_url, tmp_path):
    from impasto.service.redis_files import RedisFileStore

    store = RedisFileStore(redis_url, ttl=0.3, cache_dir=tmp_path)
    job_id = "ab" * 16
    src = tmp_path / "in.png"
    src.write_bytes(b"x" * 1000)
    assert store.put(job_id, "content.png", src) == 1000 and not src.exists()  # moved in
    assert store.path(job_id, "content.png").read_bytes() == b"x" * 1000
    assert store.job_ids() == [job_id]
    time.sleep(0.45)
    assert store.get(job_id, "content.png") is None and store.job_ids() == []
    store.close()


def test_redis_away_is_backend_unavailable_and_full_is_storage_full(persistent_redis, tmp_path):
    import redis

    from impasto.service.redis_files import RedisFileStore
    from impasto.service.redis_jobs import RedisJobStore
    from impasto.service.storage import StorageFull

    jobs = RedisJobStore(persistent_redis.url)
    job_id = jobs.new_id()
    jobs.submit(job_id, "fast", {}, {})
    persistent_redis.kill()
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as err:
        jobs.get(job_id)
    assert time.monotonic() - started < 5 and "Redis at redis://127.0.0.1" in str(err.value)
    persistent_redis.start()  # the same port: the store reconnects by itself, the job kept (fsynced)
    assert jobs.get(job_id).state == "queued"

    client = redis.Redis.from_url(persistent_redis.url)
    client.config_set("maxmemory", client.info("memory")["used_memory"] + 200_000)
    files = RedisFileStore(persistent_redis.url, ttl=60, cache_dir=tmp_path)
    with pytest.raises(StorageFull):
        for i in range(50):
            files.put(job_id, f"f{i}.png", b"\0" * 100_000)
    client.config_set("maxmemory", 0)
    client.close()
    jobs.close()
