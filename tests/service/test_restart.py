"""Jobs are never lost: SIGKILL the whole server (web process and workers) mid-job, start it again on
the same data directory. Also the API key, which this server requires."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx

from impasto.service.queue import SQLiteJobStore
from impasto.service.stores import RUNNING

from .conftest import Server, final, wait_for

KEY = "correct horse battery staple"


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def submit(client, tiny_images, **params):
    r = client.post(
        "/v1/jobs",
        data={"kind": "stylize", **{k: str(v) for k, v in params.items()}},
        files=[("content", ("c.jpg", tiny_images["content"])), ("style", ("s.png", tiny_images["style"]))],
    )
    assert r.status_code == 202, r.text
    return r.json()


def test_api_key_and_kill_and_restart(tmp_path, tiny_images):
    data = tmp_path / "data"
    server = Server(data, "--threads", "1", api_key=KEY).start()
    try:
        # -- the key: every route but /healthz ----------------------------------------------------
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        for path in ("/v1/jobs", "/v1/kinds", "/openapi.json", "/static/app.js"):
            r = httpx.get(f"{server.url}{path}")
            assert r.status_code == 401 and r.json()["field"] == "api_key", path
        assert httpx.get(f"{server.url}/v1/jobs", headers={"X-API-Key": "wrong"}).status_code == 401
        assert (
            httpx.get(f"{server.url}/v1/jobs", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        )
        page = httpx.get(f"{server.url}/")
        assert page.status_code == 401 and "api_key" in page.text  # a form asking for the key
        with httpx.Client(base_url=server.url) as browser:  # the UI's log-in: a POST, then a session cookie
            r = browser.post(
                "/login", data={"api_key": KEY}, headers={"Origin": server.url}, follow_redirects=True
            )
            assert r.status_code == 200 and "app.js" in r.text
            assert browser.get("/v1/jobs").status_code == 200

        with server.client() as client:
            done = submit(client, tiny_images, size=32, iters=2)
            done = wait_for(client, done["id"], final)
            assert done["state"] == "succeeded"
            result = client.get(done["urls"]["result"]).content
            interrupted = submit(client, tiny_images, size=64, iters=30)
            behind = submit(client, tiny_images, size=32, iters=2)
            wait_for(
                client,
                interrupted["id"],
                lambda j: j["has_preview"] and (j["progress"] or {}).get("step", 0) > 0,
            )
    finally:
        server.kill()  # SIGKILL to the process group: no handler runs, no job is requeued

    on_disk = SQLiteJobStore(data)
    assert on_disk.get(interrupted["id"]).state == RUNNING  # as the kill left it
    assert on_disk.get(behind["id"]).state == "queued"
    on_disk.close()

    server.start()
    try:
        with server.client() as client:
            assert client.get(done["urls"]["result"]).content == result  # finished results still served
            again = wait_for(client, interrupted["id"], final)
            assert again["state"] == "succeeded" and again["attempts"] == 2  # run again after the restart...
            assert again["progress"]["stage"].startswith("resumed at step")  # ...from its last checkpoint
            assert again["progress"]["step"] == again["progress"]["total"] == 30
            assert client.get(again["urls"]["result"]).status_code == 200
            later = wait_for(client, behind["id"], final)
            assert later["state"] == "succeeded"
            assert later["started_at"] > again["started_at"]  # the interrupted job went first

            # A worker dying on its own (OOM killer, a crash) is restarted and its job run again.
            crash = submit(client, tiny_images, size=48, iters=20)
            wait_for(client, crash["id"], lambda j: j["state"] == "running")
            workers = children(server.proc.pid)
            assert len(workers) == 1
            os.kill(workers[0], signal.SIGKILL)
            recovered = wait_for(client, crash["id"], final)
            assert recovered["state"] == "succeeded" and recovered["attempts"] == 2
            assert children(server.proc.pid) != workers  # a new worker process
    finally:
        server.stop()
    assert server.proc.returncode is not None
