"""Keys, sessions, hosts and tenancy (issue 13, finding 7): each test reproduces one weakness of the
old service — a fixed cookie computable from the key, the key in a login URL, any Host header, cookie
writes from any page, every job visible to everyone — and checks it is gone. The app runs in-process
(Starlette's TestClient, no workers: nothing here needs a job to run); slow clients, which need real
sockets, are in test_timeouts.py."""

from __future__ import annotations

import hashlib
import time

import pytest
from fastapi.testclient import TestClient

from impasto.service import auth
from impasto.service.app import create_app
from impasto.service.auth import Access, KeyFile, KeyRing
from impasto.service.limits import Settings

KEY = "correct horse battery staple"
HERE = "http://127.0.0.1:8000"


@pytest.fixture
def app_client(backend):
    """Makes an in-process app on the backend under test (``conftest.BACKENDS``) and its client."""

    def make(tmp_path, *, host="127.0.0.1", api_key=None, base_url=None, **access) -> TestClient:
        settings = Settings(data_dir=tmp_path / "data", host=host, api_key=api_key, access=Access(**access))
        app = create_app(settings, backend.build(settings))
        return TestClient(app, base_url=base_url or f"http://{host}:8000", follow_redirects=False)

    return make


def submit(client, tiny_images, *, headers=None) -> object:
    files = [("content", ("c.jpg", tiny_images["content"])), ("style", ("s.png", tiny_images["style"]))]
    return client.post(
        "/v1/jobs", data={"kind": "stylize", "size": "32", "iters": "2"}, headers=headers or {}, files=files
    )


def as_(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def login(client, key: str) -> object:
    return client.post("/login", data={"api_key": key}, headers={"Origin": str(client.base_url).rstrip("/")})


def test_session_cookie_is_random_expiring_and_ends_at_logout(tmp_path, app_client):
    with app_client(tmp_path, api_key=KEY) as browser:
        # The old cookie, sha256("impasto:" + key), is computable offline and was accepted forever.
        old = hashlib.sha256(f"impasto:{KEY}".encode()).hexdigest()
        assert browser.get("/v1/jobs", headers={"Cookie": f"impasto_key={old}"}).status_code == 401
        assert browser.get("/v1/jobs", headers={"Cookie": f"impasto_session={old}"}).status_code == 401

        r = login(browser, KEY)
        assert r.status_code == 303 and r.headers["location"] == "/"
        set_cookie = r.headers["set-cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie and "Max-Age=43200" in set_cookie
        assert "Secure" not in set_cookie  # plain http here; see the https case below
        token = browser.cookies["impasto_session"]
        assert KEY not in token and old not in token and len(token) >= 40
        assert browser.get("/v1/jobs").status_code == 200 and browser.get("/").status_code == 200
        assert browser.get("/v1/session").json() == {
            "owner": "key:api-key",
            "admin": False,
            "key": "api-key",
            "session": True,
            "login_required": True,
        }
        login(browser, KEY)
        assert browser.cookies["impasto_session"] != token  # a fresh token per login, not a digest of the key

        second = browser.cookies["impasto_session"]
        assert browser.post("/logout", headers={"Origin": HERE}).status_code == 303
        for replayed in (
            token,
            second,
        ):  # the first is still valid (another browser); the logged-out one is not
            status = browser.get("/v1/jobs", headers={"Cookie": f"impasto_session={replayed}"}).status_code
            assert status == (200 if replayed == token else 401)

    store = auth.SessionStore(tmp_path)
    store.MAX = 3
    tokens = [store.create(None, 60)[0] for _ in range(5)]
    assert [store.get(t) is not None for t in tokens] == [False, False, True, True, True]  # a bounded table

    with app_client(tmp_path / "short", api_key=KEY, session_hours=1 / 3600) as browser:  # a 1 s session
        login(browser, KEY)
        assert browser.get("/v1/jobs").status_code == 200
        time.sleep(1.2)
        assert browser.get("/v1/jobs").status_code == 401

    with app_client(
        tmp_path / "tls", api_key=KEY, base_url="https://127.0.0.1:8443"
    ) as browser:  # behind TLS
        assert "Secure" in login(browser, KEY).headers["set-cookie"]
    with app_client(tmp_path / "proxy", api_key=KEY, secure_cookie=True) as browser:  # TLS ends at a proxy
        r = browser.post("/login", data={"api_key": KEY}, headers={"Origin": "https://127.0.0.1:8000"})
        assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def test_the_key_is_never_taken_from_a_url(tmp_path, app_client):
    with app_client(tmp_path, api_key=KEY) as browser:
        r = browser.get("/", params={"api_key": KEY})  # the old log-in: key in the query string → cookie
        assert r.status_code == 401 and "set-cookie" not in r.headers
        assert 'method="post"' in r.text and 'action="/login"' in r.text  # the page logs in with a POST
        assert browser.get("/v1/jobs", params={"api_key": KEY}).status_code == 401
        r = browser.post("/login", params={"api_key": KEY}, headers={"Origin": HERE})
        assert r.status_code == 401 and "set-cookie" not in r.headers
        assert browser.get("/login", params={"api_key": KEY}).status_code == 405
        r = browser.post("/login", json={"api_key": KEY}, headers={"Origin": HERE})  # scripts: JSON
        assert r.status_code == 200 and r.json()["owner"] == "key:api-key"
        assert (
            browser.post("/login", json={"api_key": "wrong"}, headers={"Origin": HERE}).json()["field"]
            == "api_key"
        )


def test_unknown_host_is_refused(tmp_path, app_client):
    # Bound beyond loopback: the bound address and --allowed-host names only.
    with app_client(
        tmp_path, host="192.0.2.10", api_key=KEY, allowed_hosts=("impasto.example.org",)
    ) as client:
        for host in ("evil.example", "192.0.2.10.evil.example", "localhost"):
            r = client.get("/healthz", headers={"Host": host})
            assert r.status_code == 400 and r.json()["field"] == "host", host
        assert client.get("/v1/jobs", headers={"Host": "evil.example", "X-API-Key": KEY}).status_code == 400
        for host in ("192.0.2.10:8000", "impasto.example.org", "IMPASTO.example.org:443"):
            assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
    # On loopback the loopback names only, so a DNS-rebinding page (evil.example → 127.0.0.1) gets nothing.
    with app_client(tmp_path / "lo") as client:
        assert client.get("/v1/jobs", headers={"Host": "evil.example:8000"}).status_code == 400
        for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000"):
            assert client.get("/v1/jobs", headers={"Host": host}).status_code == 200, host


def test_cross_origin_cookie_writes_are_refused(tmp_path, tiny_images, app_client):
    with app_client(tmp_path, api_key=KEY) as browser:
        login(browser, KEY)
        for headers in (
            {"Origin": "http://evil.example"},
            {"Referer": "http://evil.example/page"},
            {"Origin": "http://127.0.0.1:9999"},
            {"Origin": "null"},
            {},
        ):
            r = submit(browser, tiny_images, headers=headers)
            assert r.status_code == 403 and r.json()["error"] == "cross_origin", headers
        assert browser.get("/v1/jobs").json()["jobs"] == []  # nothing was created
        job = submit(browser, tiny_images, headers={"Origin": HERE}).json()  # the UI's own page
        assert job["state"] == "queued"
        r = browser.delete(f"/v1/jobs/{job['id']}", headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        assert browser.post("/logout", headers={"Origin": "http://evil.example"}).status_code == 403
        assert (
            browser.delete(f"/v1/jobs/{job['id']}", headers={"Referer": f"{HERE}/"}).json()["state"]
            == "cancelled"
        )
    with app_client(tmp_path / "script", api_key=KEY) as script:  # a key header needs no Origin
        assert submit(script, tiny_images, headers={"X-API-Key": KEY}).status_code == 202
    with app_client(tmp_path / "open") as page:  # no keys at all: a foreign page still cannot submit
        page.get("/")  # an anonymous session
        assert submit(page, tiny_images, headers={"Origin": "http://evil.example"}).status_code == 403
        assert submit(page, tiny_images).json()["owner"].startswith("session:")  # a script holding the cookie


def test_jobs_belong_to_their_key_and_admin_sees_all(tmp_path, tiny_images, app_client):
    keys = KeyFile(tmp_path / "keys")
    alice, bob, root = keys.add("alice"), keys.add("bob"), keys.add("root", admin=True)
    with app_client(tmp_path, keys_file=keys.path) as client:
        job = submit(client, tiny_images, headers=as_(alice)).json()
        assert job["owner"] == "key:alice"
        base = f"/v1/jobs/{job['id']}"
        for path in (base, f"{base}/preview", f"{base}/result", f"{base}/events"):
            r = client.get(path, headers=as_(bob))
            assert r.status_code == 404 and r.json()["error"] == "not_found", path
        assert client.delete(base, headers=as_(bob)).status_code == 404
        assert client.get("/v1/jobs", headers=as_(bob)).json()["jobs"] == []
        assert client.get(base, headers=as_(alice)).json()["state"] == "queued"
        assert [j["id"] for j in client.get("/v1/jobs", headers=as_(alice)).json()["jobs"]] == [job["id"]]
        theirs = submit(client, tiny_images, headers=as_(bob)).json()
        seen = {j["id"]: j["owner"] for j in client.get("/v1/jobs", headers=as_(root)).json()["jobs"]}
        assert seen == {job["id"]: "key:alice", theirs["id"]: "key:bob"}
        assert client.get(base, headers=as_(root)).status_code == 200
        login(client, alice)  # alice's browser sees what her scripts made
        assert [j["id"] for j in client.get("/v1/jobs").json()["jobs"]] == [job["id"]]
        assert client.delete(f"/v1/jobs/{theirs['id']}", headers={"Origin": HERE}).status_code == 404

    # No keys configured (loopback): each browser session owns its jobs; keyless scripts share 'anonymous'.
    with app_client(tmp_path / "open") as browser, app_client(tmp_path / "open") as script:
        assert "impasto_session" in browser.get("/").cookies
        mine = submit(browser, tiny_images, headers={"Origin": HERE}).json()
        assert mine["owner"].startswith("session:")
        anon = submit(script, tiny_images).json()
        assert anon["owner"] == "anonymous"
        assert [j["id"] for j in browser.get("/v1/jobs").json()["jobs"]] == [mine["id"]]
        assert [j["id"] for j in script.get("/v1/jobs").json()["jobs"]] == [anon["id"]]
        assert script.get(f"/v1/jobs/{mine['id']}").status_code == 404


def test_keys_file_add_list_verify_remove(tmp_path, run_cli, monkeypatch, app_client):
    path = tmp_path / "keys"
    code, out, err = run_cli("keys", "add", "alice", "--file", path)
    assert code == 0 and "shown only now" in err
    alice = out.strip()
    code, out, _ = run_cli("keys", "add", "root", "--admin", "--file", path)
    root = out.strip()
    text = path.read_text()
    assert alice not in text and root not in text and "scrypt$" in text  # only salted hashes are kept
    assert path.stat().st_mode & 0o777 == 0o600
    assert run_cli("keys", "add", "alice", "--file", path)[0] == 2  # names are unique
    assert run_cli("keys", "add", "no spaces", "--file", path)[0] == 2
    code, out, _ = run_cli("keys", "list", "--file", path)
    assert [line.split("\t")[:2] for line in out.splitlines()] == [["alice", "user"], ["root", "admin"]]

    calls = []
    real = auth.verify_key
    monkeypatch.setattr(auth, "verify_key", lambda key, stored: calls.append(key) or real(key, stored))
    with app_client(tmp_path, keys_file=path) as client:
        for _ in range(5):
            assert client.get("/v1/jobs", headers={"X-API-Key": alice}).status_code == 200
        assert len(calls) == 1  # the KDF ran once; later requests hit the cache
        kid = alice.split("_")[1]
        for wrong in ("wrong", f"imp_{kid}_forged-secret", alice + "x", root[:-1]):
            assert client.get("/v1/jobs", headers={"X-API-Key": wrong}).status_code == 401, wrong
        assert client.get("/v1/session", headers={"X-API-Key": root}).json()["admin"] is True
        login(client, alice)
        assert client.get("/v1/jobs").status_code == 200

        assert run_cli("keys", "remove", "alice", "--file", path)[0] == 0
        assert (
            client.get("/v1/jobs", headers={"X-API-Key": alice}).status_code == 401
        )  # the running server re-read it
        assert client.get("/v1/jobs").status_code == 401  # and the session made with the key ended too
        assert client.get("/v1/jobs", headers={"X-API-Key": root}).status_code == 200
        good = path.read_text()
        path.write_text(good + "half an edit\n")  # a broken file while serving: closed, not a 500
        assert client.get("/v1/jobs", headers={"X-API-Key": root}).status_code == 401
        path.write_text(good)
        assert client.get("/v1/jobs", headers={"X-API-Key": root}).status_code == 200
    assert run_cli("keys", "remove", "alice", "--file", path)[0] == 2
    assert [e.name for e in KeyFile(path).load()] == ["root"]
    path.write_text("garbage line\n")
    with pytest.raises(Exception, match="line 1"):
        KeyRing(keys_file=path)


def test_submissions_are_rate_limited_per_key(tmp_path, tiny_images, app_client):
    keys = KeyFile(tmp_path / "keys")
    alice, bob = keys.add("alice"), keys.add("bob")
    with app_client(tmp_path, keys_file=keys.path, rate_limit=2) as client:
        for _ in range(2):
            assert submit(client, tiny_images, headers={"X-API-Key": alice}).status_code == 202
        r = submit(client, tiny_images, headers={"X-API-Key": alice})
        assert (
            r.status_code == 429 and r.json()["error"] == "rate_limited" and r.json()["field"] == "rate_limit"
        )
        assert 0 < int(r.headers["retry-after"]) <= 60
        assert submit(client, tiny_images, headers={"X-API-Key": bob}).status_code == 202  # per key
        assert len(client.get("/v1/jobs", headers={"X-API-Key": alice}).json()["jobs"]) == 2
    assert auth.parse_rate("10/min") == 10 and auth.parse_rate("1/s") == 60 and auth.parse_rate("120/h") == 2


def test_bad_access_options_are_one_line(run_cli, tmp_path):
    (tmp_path / "broken").write_text("alice user\n")
    for argv, words in (
        (("--keys", tmp_path / "none"), "impasto keys add"),
        (("--keys", tmp_path / "broken"), "line 1"),
        (("--rate-limit", "lots"), "rate"),
        (("--session-hours", "0"), "session-hours"),
        (("--allowed-host", "a*.example.org"), "wildcards"),
        (("--header-timeout", "-1"), "positive"),
    ):
        code, _, err = run_cli("serve", "--data-dir", tmp_path / "d", *argv)
        assert code == 2 and words in err and err.strip().count("\n") == 0, (argv, err)
