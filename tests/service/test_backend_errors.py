"""How the API answers when a backend cannot be reached: 503 JSON naming it, /healthz degraded, and
answers again by itself once it is back. The store here is the real SQLite one behind a switch that
makes every call raise :class:`BackendUnavailable`, as the Redis store does when its server is gone
(the Redis backend's own fault tests stop a real server)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from impasto.service.app import create_app
from impasto.service.backends import Backends, build
from impasto.service.limits import Settings
from impasto.service.stores import BackendUnavailable


class Switched:
    """A job store that raises BackendUnavailable on every call while ``down`` is set."""

    def __init__(self, store: Any) -> None:
        self.store, self.down = store, False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.store, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kw: Any) -> Any:
            if self.down:
                raise BackendUnavailable("the job store", "connection refused")
            return attr(*args, **kw)

        return call


def test_an_unreachable_job_store_is_503_json_and_recovers(tmp_path, tiny_images):
    settings = Settings(data_dir=tmp_path / "data")
    real = build(settings)
    switch = Switched(real.jobs)
    app = create_app(settings, Backends(switch, real.files, real.dispatcher))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        files = [("content", ("c.jpg", tiny_images["content"])), ("style", ("s.png", tiny_images["style"]))]
        r = client.post("/v1/jobs", data={"kind": "stylize", "size": "32", "iters": "2"}, files=files)
        assert r.status_code == 202, r.text
        job = r.json()
        switch.down = True
        for method, url in (
            ("GET", "/v1/jobs"),
            ("GET", job["urls"]["self"]),
            ("DELETE", job["urls"]["self"]),
        ):
            r = client.request(method, url)
            assert r.status_code == 503, (method, url, r.text)
            body = r.json()
            assert body["error"] == "backend_unavailable" and "job store" in body["detail"], body
            assert r.headers["retry-after"]
        r = client.post("/v1/jobs", data={"kind": "stylize", "size": "32", "iters": "2"}, files=files)
        assert r.status_code == 503 and r.json()["error"] == "backend_unavailable"
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert "job store" in health.json()["reason"]
        switch.down = False
        assert client.get(job["urls"]["self"]).json()["state"] == "queued"
        assert len(client.get("/v1/jobs").json()["jobs"]) == 1  # the refused submission left nothing
        assert real.files.job_ids() == [job["id"]]


class Unreachable:
    """A dispatcher whose broker cannot be reached."""

    def start(self) -> None: ...

    def dispatch(self, job_id: str) -> None:
        raise BackendUnavailable("the dispatcher", "broker connection refused")

    def revoke(self, job_id: str) -> None: ...

    def workers_alive(self) -> int | None:
        return None

    def stop(self, timeout: float = 10.0) -> None: ...


def test_a_job_that_cannot_be_dispatched_is_withdrawn(tmp_path, tiny_images):
    settings = Settings(data_dir=tmp_path / "data")
    real = build(settings)
    app = create_app(settings, Backends(real.jobs, real.files, Unreachable()))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        files = [("content", ("c.jpg", tiny_images["content"])), ("style", ("s.png", tiny_images["style"]))]
        r = client.post("/v1/jobs", data={"kind": "stylize", "size": "32", "iters": "2"}, files=files)
        assert r.status_code == 503 and r.json()["error"] == "backend_unavailable", r.text
        assert "dispatcher" in r.json()["detail"]
    assert real.jobs.pending() == 0  # nothing left to run twice when the client retries
    assert real.files.job_ids() == []
