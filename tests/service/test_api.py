"""The REST API against a real `impasto serve` process: life cycle of each kind, SSE order, cancel,
limits, bad uploads. One server for the module (start-up imports torch)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from .conftest import EXAMPLES, Server, final, read_events, wait_for

LIMITS = {"max_size": 128, "max_iters": 400, "max_upload_mb": 0.5, "max_pixels": 1_000_000, "max_queue": 3}


@pytest.fixture(scope="module")
def server(tmp_path_factory, backend):
    args = [a for k, v in LIMITS.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    s = Server(
        tmp_path_factory.mktemp("api") / "data",
        *backend.serve_args,
        *args,
        "--gallery",
        str(EXAMPLES),
        "--threads",
        "1",
    ).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def kinds(client) -> dict[str, dict]:
    return {k["name"]: k for k in client.get("/v1/kinds").json()["kinds"]}


def submit(client, kind: str, files: dict[str, bytes | list[bytes]], **params):
    upload = []
    for name, data in files.items():
        for i, blob in enumerate(data if isinstance(data, list) else [data]):
            upload.append((name, (f"{name}{i}.png", blob, "application/octet-stream")))
    fields = {"kind": kind, **{k: str(v) for k, v in params.items()}}
    return client.post("/v1/jobs", data=fields, files=upload)


def submit_stylize(client, tiny_images: dict[str, bytes], **params):
    """A stylize job of the tiny photo and painting."""
    return submit(
        client, "stylize", {"content": tiny_images["content"], "style": tiny_images["style"]}, **params
    )


def decode(blob: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(blob))
    im.load()
    return im


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    import numpy as np

    a = np.asarray(a.convert("RGB").resize(b.size), dtype=np.float32)
    return float(np.abs(a - np.asarray(b.convert("RGB"), dtype=np.float32)).mean())


def assert_error(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["error"] and body["detail"], body
    if field is not None:
        assert body["field"] == field, body
    return body


# -- service ------------------------------------------------------------------------------------
def test_health_spec_and_ui(client, server):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["workers"] == 1
    assert {"stylize", "texture", "dream"} <= set(health["kinds"])
    spec = client.get("/openapi.json").json()
    for path in (
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/events",
        "/v1/jobs/{job_id}/preview",
        "/v1/jobs/{job_id}/result",
        "/v1/styles",
        "/healthz",
    ):
        assert path in spec["paths"], path
    body = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"kind", "content", "style", "size", "iters", "style_weight", "preserve_color"} <= set(
        body["properties"]
    )
    page = client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    for asset in ("app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert client.get("/v1/styles").status_code == 200


def test_docs_page_is_served_from_the_package_with_no_outside_url(client):
    import re

    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text and "'/openapi.json'" in page.text
    assert not re.search(r"(https?:)?//[a-z0-9]", page.text, re.I), "an outside URL in the /docs page"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) >= 3  # the script, the style sheet, the icon
    types = {}
    for url in assets:
        assert url.startswith("/docs/assets/"), url
        r = client.get(url)
        assert r.status_code == 200 and len(r.content) > 100, url
        types[url.rsplit(".", 1)[-1]] = r.headers["content-type"]
    assert types["js"].split(";")[0] in ("text/javascript", "application/javascript")
    assert types["css"].startswith("text/css") and types["png"] == "image/png"
    assert '"validatorUrl": null' in page.text  # no spec sent to an outside validator either
    assert client.get("/docs/assets/nothing.js").status_code == 404


def test_kinds_take_defaults_from_the_configs(kinds):
    from impasto.stylize import StylizeConfig

    params = {p["name"]: p for p in kinds["stylize"]["params"]}
    assert params["style_weight"]["default"] == StylizeConfig().style_weight
    assert params["size"]["type"] == "integer"
    assert "device" not in params  # the server decides


def test_gallery_lists_examples(client):
    images = client.get("/v1/gallery").json()["images"]
    names = {i["name"] for i in images}
    assert "starry_night.jpg" in names
    thumb = client.get(images[0]["thumbnail"])
    assert thumb.status_code == 200 and max(decode(thumb.content).size) <= 256


# -- life cycle -----------------------------------------------------------------------------------
def test_stylize_life_cycle_and_events_in_order(client, tiny_images):
    r = submit_stylize(
        client,
        tiny_images,
        size=48,
        iters=8,
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] in ("queued", "running") and r.headers["location"] == job["urls"]["self"]
    assert job["params"] == {"size": 48, "iters": 8}
    events = read_events(client, job["urls"]["events"])

    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    names = [e["event"] for e in events]
    assert names[0] == "state" and names[-2:] == ["state", "end"]
    states = [e["data"]["state"] for e in events if e["event"] == "state"]
    order = ["queued", "running", "succeeded"]
    assert states == sorted(set(states), key=order.index) and states[-1] == "succeeded"
    running_at = next(
        i for i, e in enumerate(events) if e["event"] == "state" and e["data"]["state"] == "running"
    )
    progress = [(i, e["data"]) for i, e in enumerate(events) if e["event"] == "progress"]
    assert progress and all(i > running_at for i, _ in progress)
    steps = [p["step"] for _, p in progress]
    assert steps == sorted(steps) and 0 < steps[-1] <= 8 and progress[-1][1]["total"] == 8
    assert set(progress[-1][1]["losses"]) >= {"content", "style", "total"}
    assert any(e["event"] == "preview" for e in events)

    done = client.get(job["urls"]["self"]).json()
    assert done["state"] == "succeeded" and done["has_result"] and done["error"] is None
    assert done["progress"]["step"] == steps[-1]
    result = client.get(job["urls"]["result"])
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    image = decode(result.content)
    content = decode(tiny_images["content"])
    assert max(image.size) == 48 and image.size == content.size
    assert mean_abs_diff(image, content) > 3.0  # painted, not the photo returned unchanged
    preview = client.get(job["urls"]["preview"])
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    download = client.get(job["urls"]["result"], params={"download": 1})
    assert "attachment" in download.headers["content-disposition"]
    listed = client.get("/v1/jobs").json()["jobs"]
    assert job["id"] in [j["id"] for j in listed]


def test_a_converged_stylize_job_says_so_in_its_progress(client, tiny_images):
    r = submit_stylize(client, tiny_images, size=40, iters=300, tol=0.02)
    assert r.status_code == 202, r.text
    job = wait_for(client, r.json()["id"], final)
    assert job["state"] == "succeeded", job
    step = job["progress"]["step"]
    assert 20 < step < 300 and job["progress"]["total"] == step  # the schedule shrank to what ran
    assert job["progress"]["stage"] == f"converged at {step}"


def test_stylize_with_two_styles_from_upload_and_gallery(client, tiny_images):
    r = client.post(
        "/v1/jobs",
        data={
            "kind": "stylize",
            "size": "32",
            "iters": "3",
            "style_gallery": "the_scream.jpg",
            "style_blend_weights": "0.7,0.3",
            "preserve_color": "luminance",
        },
        files=[("content", ("c.jpg", tiny_images["content"])), ("style", ("s.png", tiny_images["style"]))],
    )
    assert r.status_code == 202, r.text
    assert r.json()["inputs"] == {"content": 1, "style": 2}
    job = wait_for(client, r.json()["id"], final)
    assert job["state"] == "succeeded", job
    assert max(decode(client.get(job["urls"]["result"]).content).size) == 32


def test_texture_life_cycle(client, tiny_images, kinds):
    if "texture" not in kinds:
        pytest.skip("impasto.texture is not available")
    r = submit(client, "texture", {"style": tiny_images["style"]}, width=40, height=32, iters=5)
    assert r.status_code == 202, r.text
    events = read_events(client, r.json()["urls"]["events"])
    assert events[-1]["data"]["state"] == "succeeded", events[-1]
    assert decode(client.get(r.json()["urls"]["result"]).content).size == (40, 32)


def test_dream_life_cycle(client, tiny_images, kinds):
    if "dream" not in kinds:
        pytest.skip("impasto.dream is not available")
    r = submit(client, "dream", {"content": tiny_images["content"]}, size=48, octaves=2, steps=3, jitter=4)
    assert r.status_code == 202, r.text
    events = read_events(client, r.json()["urls"]["events"])
    assert events[-1]["data"]["state"] == "succeeded", events[-1]
    assert any(e["event"] == "progress" for e in events)
    image = decode(client.get(r.json()["urls"]["result"]).content)
    assert max(image.size) == 48 and mean_abs_diff(image, decode(tiny_images["content"])) > 1.0


def test_fast_life_cycle(client, tiny_images, kinds):
    if "fast" not in kinds:
        pytest.skip("no fast style model is shipped yet")
    models = client.get("/v1/styles").json()["models"]
    assert models and models[0]["styles"]
    r = submit(
        client, "fast", {"content": tiny_images["content"]}, model=models[0]["name"], style_index="0", size=48
    )
    assert r.status_code == 202, r.text
    job = wait_for(client, r.json()["id"], final)
    assert job["state"] == "succeeded", job
    assert max(decode(client.get(job["urls"]["result"]).content).size) == 48


# -- cancel ---------------------------------------------------------------------------------------
def test_cancel_running_and_queued_jobs(client, tiny_images):
    running = submit_stylize(client, tiny_images, size=64, iters=400).json()
    queued = submit_stylize(client, tiny_images, size=64, iters=400).json()
    wait_for(client, running["id"], lambda j: (j["progress"] or {}).get("step", 0) > 0)

    cancelled = client.delete(queued["urls"]["self"])
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    r = client.delete(running["urls"]["self"])
    assert r.status_code == 200 and r.json()["cancel_requested"]
    job = wait_for(client, running["id"], final, timeout=30)
    assert job["state"] == "cancelled"
    assert job["progress"]["step"] < job["progress"]["total"] == 400  # stopped early
    # The best image so far is kept.
    assert max(decode(client.get(job["urls"]["result"]).content).size) == 64
    assert client.get(queued["urls"]["self"]).json()["started_at"] is None  # never ran
    again = client.delete(running["urls"]["self"])
    assert again.status_code == 200 and again.json()["state"] == "cancelled"


def test_unknown_job_and_result_before_ready(client, tiny_images):
    assert_error(client.get("/v1/jobs/0123456789abcdef0123456789abcdef"), 404, "id")
    assert_error(client.get("/v1/jobs/not-an-id/result"), 404, "id")
    assert_error(client.get("/nowhere"), 404)
    r = submit_stylize(
        client,
        tiny_images,
        size=64,
        iters=400,
    )
    job = r.json()
    assert_error(client.get(job["urls"]["result"]), 409, "id")
    client.delete(job["urls"]["self"])
    wait_for(client, job["id"], final, timeout=30)


# -- limits ---------------------------------------------------------------------------------------
def test_limits(client, tiny_images, kinds):
    body = assert_error(submit_stylize(client, tiny_images, size=4096), 422, "size")
    assert body["limit"] == LIMITS["max_size"]
    body = assert_error(submit_stylize(client, tiny_images, size=64, iters=100_000), 422, "iters")
    assert body["limit"] == LIMITS["max_iters"]
    # Config defaults above this server's limits (size 512, iters 500) are capped, not refused.
    stylize = {p["name"]: p["default"] for p in kinds["stylize"]["params"]}
    assert stylize["size"] == LIMITS["max_size"] and stylize["iters"] == LIMITS["max_iters"]
    # ... and GET /v1/kinds lists what this server accepts, not the config's wider maximum (8192 px).
    listed = {k: {p["name"]: p for p in kinds[k]["params"]} for k in ("stylize", "texture")}
    assert listed["stylize"]["size"]["maximum"] == LIMITS["max_size"]
    assert listed["stylize"]["iters"]["maximum"] == LIMITS["max_iters"]
    assert (
        listed["texture"]["width"]["maximum"]
        == listed["texture"]["style_size"]["maximum"]
        == LIMITS["max_size"]
    )
    assert listed["stylize"]["size"]["minimum"] == 16  # the declared lower bound stays
    body = assert_error(submit(client, "texture", {"style": tiny_images["style"]}, width=1000), 422, "width")
    assert body["limit"] == LIMITS["max_size"]
    body = assert_error(
        submit(client, "texture", {"style": tiny_images["style"]}, width=64, style_size=5000),
        422,
        "style_size",
    )
    assert body["limit"] == LIMITS["max_size"]

    big = Image.new("RGB", (1200, 1000), (200, 100, 50))  # 1.2 MP: above max_pixels, a tiny PNG file
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    body = assert_error(
        submit(client, "stylize", {"content": buf.getvalue(), "style": tiny_images["style"]}, size=64),
        422,
        "content",
    )
    assert body["limit"] == LIMITS["max_pixels"]

    noisy = Image.frombytes("RGB", (500, 500), bytes(range(256)) * 2930 + bytes(220))  # ~750 KB PNG
    buf = io.BytesIO()
    noisy.save(buf, format="PNG", compress_level=0)
    assert len(buf.getvalue()) > LIMITS["max_upload_mb"] * 1024 * 1024
    body = assert_error(
        submit(client, "stylize", {"content": tiny_images["content"], "style": buf.getvalue()}, size=64),
        413,
        "style",
    )
    assert body["limit"] == int(LIMITS["max_upload_mb"] * 1024 * 1024)
    multipart = {"content-type": "multipart/form-data; boundary=x"}
    assert_error(client.post("/v1/jobs", content=b"x" * (20 * 1024 * 1024), headers=multipart), 413, "body")

    def chunked():  # no Content-Length: refused while it streams in
        yield b'--x\r\nContent-Disposition: form-data; name="content"; filename="a.png"\r\n\r\n'
        for _ in range(160):
            yield b"y" * 65536

    # The file's own limit, checked as it streams into the data directory (before the body's limit).
    body = assert_error(client.post("/v1/jobs", content=chunked(), headers=multipart), 413, "content")
    assert body["limit"] == int(LIMITS["max_upload_mb"] * 1024 * 1024)

    ids = []
    for _ in range(LIMITS["max_queue"]):
        r = submit_stylize(client, tiny_images, size=64, iters=400)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    body = assert_error(submit_stylize(client, tiny_images, size=64, iters=400), 429, "queue")
    assert body["limit"] == LIMITS["max_queue"]
    for job_id in ids:
        client.delete(f"/v1/jobs/{job_id}")
    for job_id in ids:
        assert wait_for(client, job_id, final, timeout=30)["state"] == "cancelled"


# -- bad requests ---------------------------------------------------------------------------------
def _truncated(blob: bytes) -> bytes:
    return blob[: len(blob) // 2]


BAD = [
    # (description, form fields, files, expected status, expected field)
    (
        "not an image",
        {},
        {"content": b"hello, this is text"},
        415,
        "content",
    ),  # not an accepted format (issue 13)
    ("truncated JPEG", {}, {"content": "truncated-jpeg"}, 422, "content"),
    ("truncated PNG", {}, {"style": "truncated-png"}, 422, "style"),
    ("empty file", {}, {"content": b""}, 422, "content"),
    ("no content", {}, {"content": None}, 422, "content"),
    ("content as text", {"content": "photo.jpg"}, {"content": None}, 422, "content"),
    ("iters not an integer", {"iters": "lots"}, {}, 422, "iters"),
    ("size a float", {"size": "1.5"}, {}, 422, "size"),
    ("weight not finite", {"style_weight": "nan"}, {}, 422, "style_weight"),
    ("weight negative", {"style_weight": "-1"}, {}, 422, "style_weight"),
    ("bool garbage", {"normalize_gradients": "maybe"}, {}, 422, "normalize_gradients"),
    ("unknown parameter", {"colour": "blue"}, {}, 422, "colour"),
    ("server-side parameter", {"device": "cuda"}, {}, 422, "device"),
    ("a server path", {"init": "/etc/passwd"}, {}, 422, "init"),
    ("bad choice", {"preserve_color": "sepia"}, {}, 422, "preserve_color"),
    ("bad layer", {"style_layers": "relu9_9"}, {}, 422, "style_layers"),
    ("repeated scalar", {"iters": ["5", "6"]}, {}, 422, "iters"),
    ("unknown kind", {"kind": "paint-by-numbers"}, {}, 422, "kind"),
    ("unknown file field", {}, {"mask": b"x"}, 422, "mask"),
    ("unknown gallery image", {"style_gallery": "nope.jpg"}, {"style": None}, 404, "style_gallery"),
    # portraits (--faces)
    ("face style above 1", {"face_style": "1.5"}, {}, 422, "face_style"),
    ("faces bad choice", {"faces": "maybe"}, {}, 422, "faces"),
    (
        "face mask not an image",
        {},
        {"face_mask": b"not an image"},
        415,
        "face_mask",
    ),  # not an accepted format (issue 13)
]


@pytest.mark.parametrize("what,fields,files,status,field", BAD, ids=[b[0] for b in BAD])
def test_bad_submissions_are_4xx_json(client, tiny_images, what, fields, files, status, field):
    jpeg, png = tiny_images["content"], tiny_images["style"]
    blobs = {"content": jpeg, "style": png}
    for name, blob in files.items():
        blobs[name] = {"truncated-jpeg": _truncated(jpeg), "truncated-png": _truncated(png)}.get(blob, blob)
    form = {"kind": "stylize", "size": "32", "iters": "2", **fields}
    upload = [(k, (f"{k}.bin", v)) for k, v in blobs.items() if v is not None]
    before = len(client.get("/v1/jobs").json()["jobs"])
    assert_error(client.post("/v1/jobs", data=form, files=upload), status, field)
    assert len(client.get("/v1/jobs").json()["jobs"]) == before  # nothing was queued


def test_malformed_requests_are_4xx_json(client):
    assert_error(client.post("/v1/jobs", json={"kind": "stylize"}), 415, "body")
    r = client.post(
        "/v1/jobs", content=b"--x\r\ngarbage", headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert 400 <= r.status_code < 500 and r.json()["detail"]
    assert_error(client.get("/v1/jobs", params={"limit": "many"}), 422, "limit")
    assert_error(client.get("/v1/jobs", params={"state": "sleeping"}), 422, "state")
    assert_error(client.put("/v1/jobs"), 405)


# -- issue 13: hostile uploads, tiny images, the compute budget — all refused at submit -------------
def _image_bytes(fmt: str, size: tuple[int, int] = (48, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 60, 30)).save(buf, format=fmt)
    return buf.getvalue()


def _submit_named(client, kind: str, files: dict[str, tuple[str, bytes]], **params):
    upload = [(name, (filename, blob, "image/jpeg")) for name, (filename, blob) in files.items()]
    return client.post(
        "/v1/jobs", data={"kind": kind, **{k: str(v) for k, v in params.items()}}, files=upload
    )


def test_postscript_pdf_and_avif_uploads_are_415_whatever_their_name(client, tiny_images):
    """Finding 1: an EPS named .jpg reached Ghostscript (500 when corrupt); AVIF errors gave 500."""
    before = len(client.get("/v1/jobs", params={"limit": 500}).json()["jobs"])
    for fmt, field in (("EPS", "content"), ("PDF", "style"), ("AVIF", "style")):
        other = "style" if field == "content" else "content"
        r = _submit_named(
            client,
            "stylize",
            {field: ("photo.jpg", _image_bytes(fmt)), other: ("other.png", tiny_images[other])},
            size=32,
            iters=2,
        )
        body = assert_error(r, 415, field)
        assert "not accepted" in body["detail"] and "photo.jpg" in body["detail"], body
    corrupt = _image_bytes("EPS")[:200] + b"{ } loop\n" * 20  # a PostScript busy loop, cut short
    assert_error(
        _submit_named(
            client, "stylize", {"content": ("c.jpg", corrupt), "style": ("s.png", tiny_images["style"])}
        ),
        415,
        "content",
    )
    assert len(client.get("/v1/jobs", params={"limit": 500}).json()["jobs"]) == before  # no job was made


def test_uploads_too_small_for_the_pipeline_are_422_at_submit(client, kinds, tiny_images):
    """Finding 4: a 1×1 image was accepted for `fast` and failed later with an internal error."""
    one = _image_bytes("PNG", (1, 1))
    if "fast" in kinds:
        body = assert_error(_submit_named(client, "fast", {"content": ("one.png", one)}), 422, "content")
        assert "needs at least 8 px" in body["detail"], body
    thin = _image_bytes("PNG", (3, 7))
    assert_error(
        _submit_named(
            client,
            "stylize",
            {"content": ("thin.png", thin), "style": ("s.png", tiny_images["style"])},
            size=32,
        ),
        422,
        "content",
    )
    assert_error(
        _submit_named(
            client,
            "stylize",
            {"content": ("c.png", tiny_images["content"]), "style": ("thin.png", thin)},
            size=32,
        ),
        422,
        "style",
    )
    assert_error(_submit_named(client, "dream", {"content": ("thin.png", thin)}, size=16), 422, "content")
    assert_error(
        _submit_named(client, "texture", {"style": ("thin.png", _image_bytes("PNG", (1, 300)))}), 422, "style"
    )


@pytest.mark.parametrize(
    "kind, params, field",
    [
        ("stylize", {"size": 128, "style_scale": 8, "iters": 10}, "style_scale"),  # a 1024 px style image
        ("stylize", {"size": 128, "scales": 3, "iters": 400}, "scales"),
        ("stylize", {"size": 128, "scales": 1, "iters": 400, "tile": 64}, "tile"),
        ("dream", {"size": 128, "octaves": 12, "octave_scale": 1.1, "steps": 200}, "octave_scale"),
        ("dream", {"size": 128, "steps": 300, "tile": 64}, "tile"),
    ],
)
def test_jobs_over_the_compute_budget_are_422_naming_the_field(client, tiny_images, kind, params, field):
    """Finding 5: size=1024, style_scale=8 (an 8192 px style image), scales=12, dream octaves=20 with
    steps=2000 were accepted although each parameter was within its own limit."""
    files = {"content": tiny_images["content"]}
    if kind == "stylize":
        files["style"] = tiny_images["style"]
    body = assert_error(submit(client, kind, files, **params), 422, field)
    assert body["limit"], body
