"""Any painting in the web service: the `fast` kind with an uploaded or gallery painting, and the
"refine" path (a Gatys `stylize` job starting from an uploaded image)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from .conftest import EXAMPLES, final, png_bytes, wait_for
from .test_api import assert_error, client, decode, kinds, server, submit  # noqa: F401 (fixtures: one API server)


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
