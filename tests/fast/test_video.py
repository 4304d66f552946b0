from __future__ import annotations

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
    result = stylize_video(src, tmp_path / "out.mp4", model=str(tiny_model), style="1", callback=events.append)
    frames, size, has_audio = probe(tmp_path / "out.mp4")
    n, change = frame_change(tmp_path / "out.mp4")
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
