"""The FileStore contract (:class:`impasto.service.stores.FileStore`): every implementation listed in
``conftest.FILE_STORES`` must pass all of it."""

from __future__ import annotations

import io
import threading
import time

import pytest

A = "0123456789abcdef0123456789abcdef"
B = "fedcba9876543210fedcba9876543210"


def test_put_and_read_back_bytes_streams_and_local_files(files, tmp_path):
    assert files.put(A, "content-0.png", b"\x89PNG one") == 8
    stream = io.BytesIO(b"skip:" + b"x" * 3_000_000)
    stream.seek(5)  # from its current position
    assert files.put(A, "style-0.jpg", stream) == 3_000_000
    local = tmp_path / "result.png"
    local.write_bytes(b"result")
    assert files.put(A, "result.png", local) == 6
    assert not local.exists()  # moved in
    assert files.get(A, "content-0.png") == b"\x89PNG one"
    assert files.get(A, "style-0.jpg") == b"x" * 3_000_000
    path = files.path(A, "result.png")
    assert path is not None and path.read_bytes() == b"result"
    assert files.exists(A, "result.png") and not files.exists(B, "result.png")


def test_put_replaces(files):
    files.put(A, "preview.jpg", b"first")
    files.put(A, "preview.jpg", b"second, longer")
    assert files.get(A, "preview.jpg") == b"second, longer"
    assert files.path(A, "preview.jpg").read_bytes() == b"second, longer"


def test_missing_files(files):
    assert files.get(A, "result.png") is None
    assert files.path(A, "result.png") is None
    assert not files.exists(A, "result.png")
    files.delete(A, "result.png")  # nothing to do: no error
    files.delete_job(A)
    files.put(A, "content-0.png", b"c")
    assert files.get(A, "other.png") is None and files.path(B, "content-0.png") is None


def test_delete_and_delete_job(files):
    for name in ("content-0.png", "preview.jpg", "result.png"):
        files.put(A, name, name.encode())
    files.put(B, "content-0.png", b"b")
    files.delete(A, "preview.jpg")
    assert not files.exists(A, "preview.jpg") and files.exists(A, "result.png")
    files.delete_job(A)
    assert not any(files.exists(A, n) for n in ("content-0.png", "result.png"))
    assert files.get(B, "content-0.png") == b"b"  # another job's files stay
    assert A not in files.job_ids() and B in files.job_ids()


@pytest.mark.parametrize("name", ["", "../job.json", "a/b.png", ".hidden", "..", "x\0y"])
def test_names_are_plain_file_names(files, name):
    with pytest.raises(ValueError):
        files.put(A, name, b"x")
    with pytest.raises(ValueError):
        files.get(A, name)


@pytest.mark.parametrize("job_id", ["", "../etc", "a/b", "ABC", "x" * 10])
def test_job_ids_are_lowercase_hex(files, job_id):
    with pytest.raises(ValueError):
        files.put(job_id, "result.png", b"x")
    with pytest.raises(ValueError):
        files.delete_job(job_id)


def test_a_failed_put_leaves_the_previous_file(files):
    files.put(A, "result.png", b"the good one")

    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = False

        def readable(self) -> bool:
            return True

        def readinto(self, buf) -> int:
            if self.sent:
                raise OSError("the upload broke off")
            self.sent = True
            buf[:4] = b"half"
            return 4

    with pytest.raises(OSError):
        files.put(A, "result.png", io.BufferedReader(Broken()))
    assert files.get(A, "result.png") == b"the good one"


def test_readers_never_see_a_partial_put(open_files):
    writer, reader = open_files(), open_files()
    blobs = [bytes([i]) * 2_000_000 for i in (1, 2)]
    writer.put(A, "preview.jpg", blobs[0])
    stop = threading.Event()
    seen: list[bytes | None] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(reader.get(A, "preview.jpg"))

    t = threading.Thread(target=read)
    t.start()
    try:
        for i in range(20):
            writer.put(A, "preview.jpg", blobs[i % 2])
    finally:
        stop.set()
        t.join(30)
    assert seen and all(s in blobs for s in seen)


def test_job_ids_and_their_age(files):
    files.put(A, "content-0.png", b"a")
    files.put(B, "content-0.png", b"b")
    assert files.job_ids() == sorted([A, B])
    assert files.job_ids(older_than=3600) == []
    assert files.job_ids(older_than=3600, now=time.time() + 7200) == sorted([A, B])


def test_a_second_handle_sees_the_same_files(open_files):
    one, two = open_files(), open_files()
    one.put(A, "result.png", b"shared")
    assert two.get(A, "result.png") == b"shared" and two.exists(A, "result.png")
    two.delete_job(A)
    assert not one.exists(A, "result.png")
