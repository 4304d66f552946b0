"""Any painting in the web service: the `fast` kind with an uploaded or gallery painting, and the
"refine" path (a Gatys `stylize` job starting from an uploaded image)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from .conftest import EXAMPLES, final, png_bytes, wait_for
from .test_api import LIMITS, assert_error, client, decode, kinds, server, submit  # noqa: F401 (fixtures: one API server)


@pytest.fixture(scope="module")
def fast_kinds(kinds) -> dict[str, dict]:
    if "fast" not in kinds:
        pytest.skip("no fast kind on this server")
    return kinds


@pytest.fixture(scope="module")
def painting() -> bytes:
    return png_bytes(EXAMPLES / "starry_night.jpg", 64)


def _done(client, r) -> tuple[dict, np.ndarray]:
    assert r.status_code == 202, r.text
    job = wait_for(client, r.json()["id"], final)
    assert job["state"] == "succeeded", job
    return job, np.asarray(decode(client.get(job["urls"]["result"]).content), dtype=np.float32) / 255


def test_fast_with_an_uploaded_or_gallery_painting(client, fast_kinds, tiny_images, painting):
    files = {f["name"]: f for f in fast_kinds["fast"]["files"]}
    assert not files["style"]["required"] and files["style"]["repeatable"]
    content = tiny_images["content"]
    _, shipped = _done(client, submit(client, "fast", {"content": content}, style_index="0", size=48))
    _, uploaded = _done(client, submit(client, "fast", {"content": content, "style": painting}, size=48))
    r = submit(client, "fast", {"content": content}, size=48, style_gallery="the_scream.jpg")
    _, gallery = _done(client, r)
    assert uploaded.shape == gallery.shape == shipped.shape and max(uploaded.shape[:2]) == 48
    assert np.abs(uploaded - shipped).mean() > 0.02 and np.abs(uploaded - gallery).mean() > 0.02


def test_bad_paintings_are_4xx_naming_the_field(client, fast_kinds, tiny_images):
    content = tiny_images["content"]
    # not an accepted format: 415 like every other upload (issue 13)
    body = assert_error(submit(client, "fast", {"content": content, "style": b"not an image"}), 415, "style")
    assert "not a readable image" in body["detail"]
    buf = io.BytesIO()
    Image.new("RGB", (20, 64), "red").save(buf, format="PNG")
    body = assert_error(submit(client, "fast", {"content": content, "style": buf.getvalue()}), 422, "style")
    assert "at least 32 px" in body["detail"]
    assert_error(submit(client, "fast", {"content": content}, style_gallery="nope.jpg"), 404, "style_gallery")


def test_kinds_list_the_painting_settings_from_the_config(fast_kinds):
    """Blend weights, the predictor's input size and the strength: in GET /v1/kinds with the bounds and
    defaults declared once (impasto.fast.painting), under the stylize kind's name for blend weights."""
    from impasto.fast.arbitrary import ArbitraryConfig

    params = {p["name"]: p for p in fast_kinds["fast"]["params"]}
    weights, side, strength = params["style_blend_weights"], params["style_size"], params["strength"]
    assert weights["type"] == "array" and weights["items"] == {"type": "number", "minimum": 0}
    assert weights["default"] is None and weights["nullable"]
    assert "style_blend_weights" in {p["name"] for p in fast_kinds["stylize"]["params"]}
    # default: the painting at the output's scale; a given N is a *_size field, within --max-size
    assert (
        side["type"] == "integer"
        and side["nullable"]
        and side["default"] is ArbitraryConfig().style_size is None
    )
    assert (side["minimum"], side["maximum"]) == (32, min(1024, LIMITS["max_size"]))
    assert (strength["minimum"], strength["maximum"], strength["default"]) == (0, 1, 1.0)


def test_paintings_blend_with_weights_and_the_settings_reach_the_network(
    client, fast_kinds, tiny_images, painting
):
    """Uploads come first, then gallery paintings: weights 0,1 paint with the gallery painting alone and
    1,0 with the uploaded one; style_size and strength change what is painted."""
    content = tiny_images["content"]

    def run(files, **kw):
        return _done(client, submit(client, "fast", {"content": content, **files}, size=48, **kw))[1]

    uploaded = run({"style": painting})
    gallery = run({}, style_gallery="the_scream.jpg")
    both = {"style": painting}
    only_gallery = run(both, style_gallery="the_scream.jpg", style_blend_weights="0,1")
    only_upload = run(both, style_gallery="the_scream.jpg", style_blend_weights="1,0")
    half = run(both, style_gallery="the_scream.jpg", style_blend_weights="0.5,0.5")
    assert np.abs(only_gallery - gallery).max() < 2 / 255 and np.abs(only_upload - uploaded).max() < 2 / 255
    assert np.abs(half - gallery).mean() > 0.01 and np.abs(half - uploaded).mean() > 0.01
    assert np.abs(run({"style": painting}, style_size=64) - uploaded).mean() > 0.005
    photo = np.asarray(decode(png_bytes(EXAMPLES / "tubingen.jpg", 48, fmt="PNG")), dtype=np.float32) / 255
    weak = run({"style": painting}, strength=0.0)
    # strength 0 is the photo's own style vector (Ghiasi et al.): nearer the photo, not equal to it
    assert np.abs(weak - photo).mean() < np.abs(uploaded - photo).mean() - 0.01
    assert np.abs(weak - uploaded).mean() > 0.02


def test_bad_painting_settings_are_422_naming_the_field(client, fast_kinds, tiny_images, painting):
    content, two = tiny_images["content"], {"content": tiny_images["content"], "style": [painting, painting]}
    for value, words in (
        ("a,b", "must be a number"),
        ("1,-1", "zero or positive"),
        ("0,0", "sum to zero"),
        ("1,2,3", "3 blend weights for 2 paintings"),
        ("1", "1 blend weight for 2 paintings"),
    ):
        body = assert_error(
            submit(client, "fast", two, style_blend_weights=value), 422, "style_blend_weights"
        )
        assert words in body["detail"], (value, body)
    body = assert_error(
        submit(client, "fast", {"content": content}, style_blend_weights="1,1"), 422, "style_blend_weights"
    )
    assert "paintings" in body["detail"]
    for value in ("16", "2048", "big"):
        assert_error(submit(client, "fast", two, style_size=value), 422, "style_size")
    assert_error(submit(client, "fast", two, strength="1.5"), 422, "strength")


def test_a_photo_too_small_for_the_arbitrary_network_is_refused_at_submit(client, fast_kinds, painting):
    """12 px is enough for the shipped networks (8 px) but not for the arbitrary-style one (16 px): with a
    painting the job is refused at submit, never accepted to fail in the worker."""
    buf = io.BytesIO()
    Image.new("RGB", (12, 12), "blue").save(buf, format="PNG")
    body = assert_error(
        submit(client, "fast", {"content": buf.getvalue(), "style": painting}), 422, "content"
    )
    assert "at least 16 px" in body["detail"]
    r = submit(client, "fast", {"content": buf.getvalue()}, style_index="0")
    assert r.status_code == 202, r.text  # the shipped network takes it


def test_refine_starts_gatys_from_the_fast_result(client, fast_kinds, tiny_images, painting):
    content, style = tiny_images["content"], painting
    fast_job, fast = _done(client, submit(client, "fast", {"content": content, "style": style}, size=48))
    init = client.get(fast_job["urls"]["result"]).content
    job, refined = _done(
        client,
        submit(client, "stylize", {"content": content, "style": style, "init": init}, size=48, iters=3),
    )
    assert job["inputs"]["init"] == 1
    photo = np.asarray(decode(png_bytes(EXAMPLES / "tubingen.jpg", 48, fmt="PNG")), dtype=np.float32) / 255
    # Three L-BFGS steps from the fast image stay near it, far nearer than to the photo.
    assert np.abs(refined - fast).mean() < 0.5 * np.abs(refined - photo).mean()
