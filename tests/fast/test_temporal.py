from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("cv2")

from impasto.errors import ConfigError
from impasto.fast.temporal import TemporalBlender, check_weight


def scene(h=120, w=200, seed=0) -> np.ndarray:
    """A smooth random picture (trackable by optical flow), H×W×3 float in [0, 1]."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 8 + 2, w // 8 + 2, 3))
    big = np.kron(coarse, np.ones((8, 8, 1)))[:h, :w]
    # a little smoothing of the blocks: bilinear-ish by averaging shifted copies
    return (big + np.roll(big, 4, 0) + np.roll(big, 4, 1) + np.roll(np.roll(big, 4, 0), 4, 1)) / 4


def to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255), 0, 255).astype(np.uint8)


def fake_style(frame_u8: np.ndarray, rng, flicker=0.02) -> np.ndarray:
    """A stand-in per-frame network: a deterministic function of the frame plus flicker (noise of the
    size the shipped model shows on a still camera: mean change ≈ 0.02 between frames)."""
    x = frame_u8.astype(np.float32) / 255
    return np.clip(1 - x + rng.normal(0, flicker, x.shape), 0, 1).astype(np.float32)


def mean_change(frames) -> float:
    return float(np.mean([np.abs(b - a).mean() for a, b in itertools.pairwise(frames)]))


def test_static_camera_flicker_is_much_lower():
    rng = np.random.default_rng(1)
    base = scene()
    blender = TemporalBlender(0.6)
    raw, out = [], []
    for _ in range(12):
        frame = to_u8(np.clip(base + rng.normal(0, 2 / 255, base.shape), 0, 1))
        s = fake_style(frame, rng)
        raw.append(s)
        out.append(blender(frame, s))
    # A running average over ~2.5 frames: consecutive changes well under half the per-frame ones.
    assert mean_change(out[2:]) < 0.5 * mean_change(raw[2:])
    # ... and it is the same picture, not a washed-out one.
    assert np.abs(out[-1] - (1 - base)).mean() < np.abs(raw[-1] - (1 - base)).mean()


def test_moving_camera_is_motion_compensated():
    """A pan by 3 px per frame: blending follows the motion (no ghosting of the previous position)."""
    rng = np.random.default_rng(2)
    big = scene(120, 260)
    blender = TemporalBlender(0.6)
    errs_blend, errs_still = [], []
    prev_clean = None
    for t in range(8):
        window = big[:, 3 * t : 3 * t + 200]
        frame = to_u8(window)
        clean = 1 - frame.astype(np.float32) / 255
        s = np.clip(clean + rng.normal(0, 0.02, clean.shape), 0, 1).astype(np.float32)
        out = blender(frame, s)
        inner = (slice(10, -10), slice(10, -10))
        if prev_clean is not None:
            errs_blend.append(np.abs(out - clean)[inner].mean())
            errs_still.append(np.abs(prev_clean - clean)[inner].mean())
        prev_clean = clean
    # The blended frame is nearer the clean stylization of *this* frame than the noisy per-frame
    # output is (noise 0.02 → mean abs ≈ 0.016), and far nearer than the un-warped previous frame.
    assert np.mean(errs_blend) < 0.012
    assert np.mean(errs_blend) < 0.5 * np.mean(errs_still)


def test_scene_cut_takes_the_new_frame():
    rng = np.random.default_rng(3)
    blender = TemporalBlender(0.6)
    a, b = to_u8(scene(seed=4)), to_u8(scene(seed=5))
    blender(a, fake_style(a, rng))
    s = fake_style(b, rng)
    out = blender(b, s)
    assert np.abs(out - s).mean() < 0.01
    assert blender.last_confidence is not None and blender.last_confidence.mean() < 0.1


def test_first_frame_and_weight_zero_are_untouched():
    rng = np.random.default_rng(4)
    frame = to_u8(scene())
    s = fake_style(frame, rng)
    assert np.array_equal(TemporalBlender(0.6)(frame, s), s)
    off = TemporalBlender(0)
    off(frame, s)
    s2 = fake_style(frame, rng)
    assert np.array_equal(off(frame, s2), s2)


@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan"), True, "0.5"])
def test_bad_weight_names_the_field(bad):
    with pytest.raises(ConfigError) as info:
        check_weight(bad)
    assert info.value.field == "temporal"


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError):
        TemporalBlender(0.5)(to_u8(scene()), np.zeros((10, 10, 3), np.float32))


def test_prepare_tracks_the_pan_on_the_stride_grid():
    """Camera moving right 1 px and down 2 px per frame: the scene moves left/up, so the padding
    that keeps it on one phase of the stride-4 grid grows by 1 (left) and 2 (top) per frame."""
    big = scene(160, 260)
    blender = TemporalBlender(0.8)
    pads = []
    for t in range(6):
        frame = to_u8(big[2 * t : 2 * t + 120, t : t + 200])
        pads.append(blender.prepare(frame))
        blender(frame, fake_style(frame, np.random.default_rng(t)))
    assert pads == [(t % 4, 2 * t % 4) for t in range(6)]
