"""Stylizing videos with a fast network (optional extra ``video``: PyAV).

Every frame is stylized at its native resolution; the audio stream is copied unchanged (re-encoded to
AAC only when the output container cannot hold the original codec). Flicker is measured as the mean
absolute change between consecutive output frames divided by the same for the input frames (1.0 =
the output changes as much as the input; plain per-frame networks are typically well above 1).
With ``temporal`` > 0 each stylized frame is blended with the motion-compensated previous output
where the optical flow can be trusted (:mod:`impasto.fast.temporal`), which removes most flicker.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..device import resolve_device
from ..errors import ImpastoError
from ..output import atomic_file, check_output_path
from ..progress import Callback, Clock
from .infer import FastConfig, apply, check_size, load, style_vector
from .temporal import TemporalBlender

DEFAULT_TEMPORAL = 0.8
"""Default weight of the flow-guided temporal blending (see benchmarks/RESULTS.md, "Flicker")."""

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi")


class VideoError(ImpastoError):
    """A video cannot be read or written (or PyAV is missing)."""


@dataclass(frozen=True)
class VideoResult:
    path: Path
    frames: int
    size: tuple[int, int]
    """(height, width) of the frames."""
    has_audio: bool
    input_change: float
    """Mean absolute change between consecutive input frames (0–1 scale)."""
    output_change: float
    seconds: float
    interrupted: bool = False
    temporal: float = 0.0
    """Weight of the temporal blending that was used (0 = each frame on its own)."""

    @property
    def flicker(self) -> float:
        """Output change relative to the input's (lower = steadier)."""
        return self.output_change / self.input_change if self.input_change > 0 else float("nan")


def _av():
    try:
        import av
    except ImportError:
        raise VideoError("video needs the 'video' extra (PyAV): pip install 'impasto[video]'") from None
    return av


def check_video_output(path: str | os.PathLike, source: str | os.PathLike) -> Path:
    """The output video's path, checked before any work like every output (:mod:`impasto.output`)."""
    return check_output_path(path, (source,), suffixes=VIDEO_SUFFIXES, what="output video", error=VideoError)


def probe(path: str | os.PathLike) -> tuple[int, tuple[int, int], bool]:
    """(frame count estimate, (height, width), has audio) of a video; one-line VideoError when unreadable."""
    av = _av()
    p = Path(path)
    if not p.is_file():
        raise VideoError(f"video '{p}' does not exist")
    try:
        with av.open(str(p)) as c:
            if not c.streams.video:
                raise VideoError(f"'{p}' has no video stream")
            v = c.streams.video[0]
            frames = v.frames or (
                int(float(v.duration * v.time_base) * float(v.average_rate))
                if v.duration and v.average_rate
                else 0
            )
            hw = (v.codec_context.height, v.codec_context.width)
            check_size(hw, f"video '{p}'")  # frames as small as the network can take, before any work
            return frames, hw, bool(c.streams.audio)
    except ImpastoError:
        raise
    except Exception as exc:
        raise VideoError(
            f"video '{p}' is not a readable video: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
        ) from None


def stylize_frame(
    model,
    frame: np.ndarray,
    style: torch.Tensor | None,
    strength: float = 1.0,
    device="cpu",
    precision: str = "auto",
    blender: TemporalBlender | None = None,
    painter: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """One video frame (H×W×3 uint8 RGB) through the network, (1, 3, H, W) float in [0, 1]; with a
    ``blender``, phase-aligned to the camera motion and blended with the previous output frame.
    ``painter`` (e.g. :func:`impasto.fast.arbitrary.painter`) runs instead of ``model``."""
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float().div_(255.0)
    device = torch.device(device)

    def network(t: torch.Tensor) -> torch.Tensor:
        assert style is not None  # a style vector unless a painter runs instead
        return apply(model, t, style, strength, device, precision)

    run = painter or network
    if blender is None or not blender.enabled:
        return run(x)
    left, top = blender.prepare(frame)
    if left or top:
        x = torch.nn.functional.pad(
            x, (left, 0, top, 0), mode="reflect" if min(frame.shape[:2]) > 3 else "replicate"
        )
    y = run(x)[..., top:, left:]
    blended = blender(frame, y[0].permute(1, 2, 0).float().cpu().numpy())
    return torch.from_numpy(blended).permute(2, 0, 1)[None]


def stylize_video(
    source: str | os.PathLike,
    output: str | os.PathLike,
    config: FastConfig | None = None,
    *,
    callback: Callback | None = None,
    crf: int = 18,
    temporal: float = DEFAULT_TEMPORAL,
    painter: Callable[[torch.Tensor], torch.Tensor] | None = None,
    **overrides,
) -> VideoResult:
    """Stylize every frame of ``source`` into ``output`` (H.264 + the original audio).

    ``temporal`` (0 ≤ w < 1) blends each frame with the flow-warped previous output frame where the
    flow is reliable (0 = every frame on its own; needs OpenCV, part of the ``video`` extra).
    ``painter`` (:func:`impasto.fast.arbitrary.painter`: any painting as the style) replaces the
    fast network; then ``config`` gives only the device."""
    av = _av()
    config = replace(config or FastConfig(), **overrides) if overrides else (config or FastConfig())
    blender = TemporalBlender(temporal) if temporal else None
    out_path = check_video_output(output, source)
    total, (h, w), _ = probe(source)
    loaded = load(config.model) if painter is None else None
    style = style_vector(config.style, loaded.styles) if loaded is not None else None
    device = resolve_device(config.device)
    clock = Clock.single(total, callback)  # total: the container's frame count, 0 if unknown
    start = clock.start
    frames = 0
    change_in = change_out = 0.0
    prev_in = prev_out = None
    interrupted = False
    has_audio = False
    try:
        with (
            atomic_file(out_path, keep_suffix=True) as tmp,
            av.open(str(source)) as inp,
            av.open(str(tmp), "w") as out,
        ):
            vin = inp.streams.video[0]
            vin.thread_type = "AUTO"
            rate = vin.average_rate or vin.guessed_rate or 25
            vout = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=rate)
            vout.width, vout.height = w, h
            # yuv420p (the playable default) needs even sizes; odd sizes keep full chroma instead.
            vout.pix_fmt = "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p"
            if vout.codec_context.name == "libx264":
                vout.options = {"crf": str(crf), "preset": "veryfast"}
            ain = inp.streams.audio[0] if inp.streams.audio else None
            aout = None
            transcode_audio = False
            if ain is not None:
                has_audio = True
                try:
                    aout = out.add_stream_from_template(ain)
                except Exception:
                    aout = out.add_stream("aac", rate=ain.rate)
                    transcode_audio = True
            streams = [vin] + ([ain] if ain is not None else [])
            try:
                for packet in inp.demux(*streams):
                    if packet.stream.type == "audio":
                        if transcode_audio:
                            assert aout is not None
                            for frame in packet.decode():
                                frame.pts = None
                                for p in aout.encode(frame):
                                    out.mux(p)
                        elif packet.dts is not None:
                            packet.stream = aout
                            out.mux(packet)
                        continue
                    for frame in packet.decode():
                        arr = frame.to_ndarray(format="rgb24")
                        y = stylize_frame(
                            loaded, arr, style, config.strength, device, config.precision, blender, painter
                        )
                        if prev_in is not None and prev_out is not None:
                            change_in += float(np.abs(arr.astype(np.int16) - prev_in).mean()) / 255.0
                            change_out += float((y - prev_out).abs().mean())
                        prev_in, prev_out = arr, y
                        rgb = y[0].mul(255).round().clamp(0, 255).byte().permute(1, 2, 0).contiguous().numpy()
                        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                        vf.pts, vf.time_base = frame.pts, frame.time_base
                        for p in vout.encode(vf):
                            out.mux(p)
                        frames += 1
                        clock.report(0, frames, {})
            except KeyboardInterrupt:
                interrupted = True
            for p in vout.encode():
                out.mux(p)
            if transcode_audio:
                assert aout is not None
                for p in aout.encode():
                    out.mux(p)
            if frames == 0:
                raise VideoError(f"video '{source}' has no decodable frames")
    except Exception as exc:
        if type(exc).__module__.startswith("av"):
            raise VideoError(
                f"video '{source}' could not be processed: {str(exc).strip().splitlines()[0]}"
            ) from None
        raise
    n = max(1, frames - 1)
    return VideoResult(
        out_path,
        frames,
        (h, w),
        has_audio,
        change_in / n,
        change_out / n,
        time.perf_counter() - start,
        interrupted,
        blender.weight if blender else 0.0,
    )


def frame_change(path: str | os.PathLike) -> tuple[int, float]:
    """(frames, mean absolute change between consecutive frames) of a video file."""
    av = _av()
    prev, total, n = None, 0.0, 0
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            x = torch.from_numpy(frame.to_ndarray(format="rgb24")).float() / 255.0
            if prev is not None:
                total += float((x - prev).abs().mean())
            prev, n = x, n + 1
    return n, total / max(1, n - 1)
