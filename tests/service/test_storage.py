"""A full disk (issue 13, finding 2), on a real 24 MB tmpfs holding the data directory: submissions get
507 JSON, /healthz says degraded, a worker killed meanwhile is restarted, and once space returns the
jobs run to `succeeded` without a restart of the server. Uploads are spooled in the data directory."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from .conftest import Server, final, wait_for

FLOOR_MB = 3


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({r.stderr.strip() or r.returncode}); this test needs root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path: Path) -> None:
    """Write until the file system refuses (ENOSPC), down to the last block."""
    with open(path, "ab", buffering=0) as fh:
        for size in (1 << 20, 1 << 12):
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError:
                continue


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def submit(client, tiny_images, **params):
    return client.post(
        "/v1/jobs",
        data={"kind": "stylize", **{k: str(v) for k, v in params.items()}},
        files=[("content", ("c.jpg", tiny_images["content"])), ("style", ("s.png", tiny_images["style"]))],
    )


def health(client) -> dict:
    return client.get("/healthz").json()


def test_full_disk_is_507_degraded_and_resumes_when_space_returns(small_disk, tiny_images):
    server = Server(
        small_disk / "data",
        "--threads",
        "1",
        "--min-free-mb",
        str(FLOOR_MB),
        log=small_disk.parent / "server.log",
    ).start()
    filler = small_disk / "filler"
    try:
        with server.client() as client:
            assert health(client)["status"] == "ok"
            running = submit(client, tiny_images, size=40, iters=20).json()
            waiting = submit(client, tiny_images, size=32, iters=2).json()
            wait_for(client, running["id"], lambda j: j["state"] == "running" and j["has_preview"])

            fill(filler)  # the disk is full while a job runs and another waits
            r = submit(client, tiny_images, size=32, iters=2)
            assert r.status_code == 507, r.text
            assert r.headers["content-type"].startswith("application/json")
            body = r.json()
            assert (
                body["error"] == "storage_full"
                and body["field"] == "storage"
                and "disk full" in body["detail"]
            )
            h = health(client)
            assert h["status"] == "degraded" and h["reason"].startswith("disk full"), h

            # A worker dying while the disk is full (ENOSPC mid-job, the OOM killer, ...): the watcher lives on.
            time.sleep(1.5)  # the running job's next preview and progress writes fail meanwhile
            (worker,) = children(server.proc.pid)
            os.kill(worker, signal.SIGKILL)
            time.sleep(2.0)
            assert server.proc.poll() is None
            assert (
                client.get(f"/v1/jobs/{waiting['id']}").json()["state"] == "queued"
            )  # nothing starts meanwhile

            filler.unlink()  # space returns: no restart, no request needed
            deadline = time.monotonic() + 30
            while (h := health(client))["status"] != "ok" and time.monotonic() < deadline:
                time.sleep(0.2)
            assert h["status"] == "ok" and h["workers"] == 1, h
            for job in (running, waiting):
                done = wait_for(client, job["id"], final, timeout=180)
                assert done["state"] == "succeeded", done
                assert client.get(done["urls"]["result"]).status_code == 200
            later = submit(client, tiny_images, size=32, iters=2)
            assert later.status_code == 202, later.text
            assert wait_for(client, later.json()["id"], final, timeout=120)["state"] == "succeeded"
    finally:
        server.stop()


def test_an_upload_that_does_not_fit_is_507_and_leaves_nothing(small_disk, tiny_images):
    server = Server(
        small_disk / "data", "--threads", "1", "--min-free-mb", "1", log=small_disk.parent / "server.log"
    ).start()
    try:
        with server.client() as client:
            ballast = small_disk / "ballast"
            fill(ballast)
            with open(ballast, "r+b") as fh:  # leave 2 MB: above the floor, below the upload
                fh.truncate(ballast.stat().st_size - 2 * 1024 * 1024)

            def chunked():  # no Content-Length, so only the writes can tell
                yield b'--x\r\nContent-Disposition: form-data; name="content"; filename="big.png"\r\n\r\n'
                for _ in range(64):
                    yield b"y" * 65536

            r = client.post(
                "/v1/jobs", content=chunked(), headers={"content-type": "multipart/form-data; boundary=x"}
            )
            assert r.status_code == 507 and r.json()["field"] == "storage", r.text
            assert not list((small_disk / "data" / "jobs").iterdir())  # no half-made job
            assert (small_disk / "data" / "uploads").is_dir()
            assert submit(client, tiny_images, size=32, iters=2).status_code == 202  # small ones still fit
    finally:
        server.stop()


def test_multipart_bodies_are_spooled_in_the_data_directory(tmp_path, tiny_images):
    server = Server(tmp_path / "data", "--threads", "1").start()
    sent = threading.Event()
    release = threading.Event()
    try:

        def slow():  # 3 MiB of a file part, then wait: the spooled file is open in the web process
            yield b'--x\r\nContent-Disposition: form-data; name="content"; filename="big.png"\r\n\r\n'
            for _ in range(48):
                yield b"y" * 65536
            sent.set()
            release.wait(30)
            yield b"\r\n--x--\r\n"

        result: dict = {}

        def post():
            with httpx.Client(base_url=server.url, timeout=60) as c:
                result["r"] = c.post(
                    "/v1/jobs", content=slow(), headers={"content-type": "multipart/form-data; boundary=x"}
                )

        t = threading.Thread(target=post)
        t.start()
        assert sent.wait(30)
        time.sleep(1.0)
        fd_dir = Path(f"/proc/{server.proc.pid}/fd")
        targets = []
        for fd in fd_dir.iterdir():
            try:
                targets.append(os.readlink(fd))
            except OSError:
                continue
        release.set()
        t.join(60)
        spooled = [Path(p.removesuffix(" (deleted)")).parent for p in targets if p.endswith(" (deleted)")]
        assert server.data_dir / "uploads" in spooled, targets
        assert Path(tempfile.gettempdir()) not in spooled, targets
        assert result["r"].status_code == 422 and result["r"].json()["field"] == "style"  # (no style sent)
    finally:
        server.stop()
