"""`impasto serve` refuses bad settings with one line and exit 2, before starting anything."""

from __future__ import annotations

import socket

import pytest

from impasto.service.limits import parse_duration
from impasto.service.server import DataDirLock


def test_busy_port_is_one_line(run_cli, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        code, _, err = run_cli("serve", "--port", s.getsockname()[1], "--data-dir", tmp_path / "d")
    assert code == 2 and err.strip().count("\n") == 0 and "choose another --port" in err


def test_second_server_on_a_data_dir_is_refused(run_cli, tmp_path):
    lock = DataDirLock(tmp_path)
    lock.acquire()  # as a running server holds it
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        code, _, err = run_cli("serve", "--port", port, "--data-dir", tmp_path)
    finally:
        lock.release()
    assert code == 2 and "another impasto server is using the data directory" in err


def test_bad_options(run_cli, tmp_path):
    for argv, words in (
        (("--retention", "soon"), "duration"),
        (("--workers", "0"), "positive"),
        (("--max-size", "-5"), "positive"),
        (("--gallery", str(tmp_path / "none")), "gallery"),
    ):
        code, _, err = run_cli("serve", "--data-dir", tmp_path / "d", *argv)
        assert code == 2 and words in err, (argv, err)
    assert parse_duration("90") == 90 and parse_duration("15m") == 900 and parse_duration("7d") == 7 * 86400


def test_redis_options_are_one_line(run_cli, tmp_path):
    pytest.importorskip("celery", reason="the Redis backend needs the 'scale' extra")
    for argv, words in (
        (("--redis", "http://localhost:6379"), "expected a Redis URL"),
        (("--redis", "redis://127.0.0.1:1/0"), "cannot reach Redis at redis://127.0.0.1:1/0"),
        (("--redis", "redis://127.0.0.1:1/0", "--recover"), "does not apply to --redis"),
        (("--workers", "-1", "--redis", "redis://127.0.0.1:1/0"), "positive"),
    ):
        code, _, err = run_cli("serve", "--data-dir", tmp_path / "d", *argv)
        assert code == 2 and err.strip().count("\n") == 0 and words in err, (argv, err)
    code, _, err = run_cli("worker", "--redis", "redis://:secret@127.0.0.1:1/0")
    assert code == 2 and "cannot reach Redis at redis://:***@127.0.0.1:1/0" in err and "secret" not in err
