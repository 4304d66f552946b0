from __future__ import annotations

import itertools

import numpy as np
import pytest

av = pytest.importorskip("av")

from impasto.fast.video import VideoError, frame_change, probe, stylize_video  # noqa: E402


def make_video(path, frames=6, size=(48, 64), fps=12, audio=True):
    h, w = size
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = out.add_stream("aac", rate=22050) if audio else None
        for i in range(frames):
            img = np.zeros((h, w, 3), np.uint8)
            img[:, : (i + 1) * w // frames] = (200, 80, 40)
            img[h // 2 :, :, 2] = 180
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        if a is not None:
            n = 22050 * frames // fps
            t = np.arange(n) / 22050
            samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            frame.sample_rate = 22050
            for p in a.encode(frame):
                out.mux(p)
            for p in a.encode():
                out.mux(p)
    return path


def test_round_trip_keeps_frames_size_and_audio(tmp_path, tiny_model):
    src = make_video(tmp_path / "in.mp4")
    events = []
    result = stylize_video(
        src, tmp_path / "out.mp4", model=str(tiny_model), style="1", callback=events.append
    )
    _, size, has_audio = probe(tmp_path / "out.mp4")
    n, _ = frame_change(tmp_path / "out.mp4")
    assert result.frames == n == 6
    assert size == (48, 64) and result.size == (48, 64)
    assert has_audio and result.has_audio
    assert events and events[-1].step == 6
    assert result.input_change > 0 and result.flicker > 0
    assert not list(tmp_path.glob(".*part*"))


def test_unreadable_video_is_one_line(tmp_path, tiny_model, run_cli):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video")
    with pytest.raises(VideoError, match="not a readable video"):
        stylize_video(bad, tmp_path / "o.mp4", model=str(tiny_model))
    code, _, err = run_cli("video", bad, "-o", tmp_path / "o.mp4", "--model", tiny_model)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not a readable video" in err
    assert not (tmp_path / "o.mp4").exists()


def make_noisy_static_video(path, frames=8, size=(64, 96), fps=12, seed=0):
    """A still picture with fresh sensor noise in every frame (every output change is flicker)."""
    h, w = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 80 * np.sin(xx / 9), 128 + 80 * np.cos(yy / 7), 100 + 0 * xx], -1)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv444p" if "libx264" in av.codecs_available else "yuv420p"
        for _ in range(frames):
            img = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
    return path


def test_temporal_blending_lowers_flicker(tmp_path, tiny_model):
    pytest.importorskip("cv2")
    src = make_noisy_static_video(tmp_path / "still.mp4")
    plain = stylize_video(src, tmp_path / "plain.mp4", model=str(tiny_model), temporal=0)
    steady = stylize_video(src, tmp_path / "steady.mp4", model=str(tiny_model), temporal=0.6)
    assert plain.temporal == 0 and steady.temporal == 0.6
    assert plain.frames == steady.frames == 8
    assert steady.input_change == pytest.approx(plain.input_change)
    assert steady.flicker < 0.6 * plain.flicker


def test_bad_temporal_weight_is_one_line(tmp_path, tiny_model, run_cli):
    src = make_video(tmp_path / "in.mp4", audio=False)
    code, _, err = run_cli("video", src, "-o", tmp_path / "o.mp4", "--model", tiny_model, "--temporal", "1.5")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "temporal" in err
    assert not (tmp_path / "o.mp4").exists()


def test_temporal_without_opencv_is_one_line(tmp_path, tiny_model, run_cli, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    src = make_video(tmp_path / "in.mp4", audio=False)
    code, _, err = run_cli("video", src, "-o", tmp_path / "o.mp4", "--model", tiny_model)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--temporal 0" in err
    assert not (tmp_path / "o.mp4").exists()
    result = stylize_video(src, tmp_path / "o.mp4", model=str(tiny_model), temporal=0)
    assert result.frames == 6 and result.temporal == 0


def test_phase_alignment_makes_a_pan_shift_the_rendering(tiny_model):
    """On a 1 px/frame pan the stride-4 network re-draws its strokes every frame; aligned to its
    stride grid, consecutive outputs are shifted copies of each other (away from the borders)."""
    pytest.importorskip("cv2")
    from impasto.fast import load, style_vector
    from impasto.fast.temporal import TemporalBlender
    from impasto.fast.video import stylize_frame

    model = load(str(tiny_model))
    style = style_vector("1", model.styles)
    rng = np.random.default_rng(0)
    coarse = rng.random((12, 24, 3))
    big = np.kron(coarse, np.ones((8, 8, 1)))
    big = (big + np.roll(big, 4, 0) + np.roll(big, 4, 1) + np.roll(np.roll(big, 4, 0), 4, 1)) / 4
    frames = [np.round(big[8:88, 20 + t : 140 + t] * 255).astype(np.uint8) for t in range(6)]

    def drift(blender):
        outs = [stylize_frame(model, f, style, precision="fp32", blender=blender)[0].numpy() for f in frames]
        # pixel (i, j) of frame t is pixel (i, j + 1) of frame t - 1
        return np.mean(
            [np.abs(b[:, 12:-12, 12:-13] - a[:, 12:-12, 13:-12]).mean() for a, b in itertools.pairwise(outs)]
        )

    aligned = TemporalBlender(0.5)
    unaligned = TemporalBlender(0.5, period=1)
    assert drift(aligned) < 0.25 * drift(unaligned)
