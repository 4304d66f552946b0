"""The Redis fixture itself: a real server that answers, and keeps what it was told across a restart
when persistence is on."""

from __future__ import annotations

from .redis_server import ping


def test_fixture_server_answers_and_is_flushed(redis_server, redis_url):
    import redis

    assert ping(redis_server.port)
    r = redis.Redis.from_url(redis_url)
    assert r.dbsize() == 0
    r.set("k", "v")
    assert r.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    r.close()


def test_persistent_server_keeps_data_across_a_kill(persistent_redis):
    import redis

    r = redis.Redis.from_url(persistent_redis.url)
    r.rpush("queue", "a", "b")
    r.close()
    persistent_redis.restart(kill=True)  # SIGKILL: only the fsynced append-only file survives
    r = redis.Redis.from_url(persistent_redis.url)
    assert r.lrange("queue", 0, -1) == [b"a", b"b"]
    r.close()
    persistent_redis.stop()
    assert not ping(persistent_redis.port)
