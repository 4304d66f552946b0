"""Steadier video from a per-frame network: stride-phase alignment and flow-guided temporal blending.

A per-frame network flickers in two ways, and each gets its own remedy here:

1. **Noise.** Sensor noise and small changes flip brush strokes from frame to frame. Every stylized
   frame is blended with the previous *output* frame, motion-compensated by dense optical flow
   (OpenCV's DIS, Kroeger et al. 2016), wherever that can be trusted::

       out_t = S_t + weight · c_t · (warp(out_{t-1}) − S_t)

   ``c_t`` (0..1) is the confidence that a pixel was visible and moved as the flow says: the warped
   previous *input* must match the current input there (pixels that flow from outside the picture
   get 0), and the warped previous output must not be a wholly different rendering of it. New,
   disoccluded or changed content takes the network's fresh output; steady content keeps a running
   average that noise cannot flip. This is the scheme of Chen et al. 2017 ("Coherent Online Video
   Style Transfer": warp the previous stylized result and blend it in by a reliability mask) carried
   out in pixel space with a hand-set mask instead of their learned flow and mask sub-networks.
   Departure from Ruder et al. 2016 ("Artistic style transfer for videos"): they find occlusions by
   a forward–backward flow check; we use one flow per frame and the photometric check above.

2. **Camera motion.** The network downsamples by 4 (two stride-2 convolutions), so it is only
   shift-equivariant for shifts by multiples of 4 pixels: on a pan of 1 px per frame its strokes are
   re-drawn every frame and stay fixed to the frame (the "shower door" look) instead of moving with
   the scene. We track the camera's global translation (the median of the flow, summed over frames)
   and pad each input frame by 0–3 pixels on the left and top so that the scene always falls on the
   same phase of the network's stride-4 grid; the padding is cropped off the output. For a pure pan
   the interior of the output is then exactly a shifted copy of the previous frame's rendering. This
   step is ours (not from a paper); it is what makes the blending above work on moving cameras
   without averaging two different renderings into a blur.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_positive
from ..errors import ConfigError, ImpastoError


class TemporalError(ImpastoError):
    """Temporal blending cannot run (OpenCV is missing)."""


PRESETS = ("ultrafast", "fast", "medium")


def _cv2():
    try:
        import cv2
    except ImportError:
        raise TemporalError(
            "temporal blending needs OpenCV (part of the 'video' extra): pip install 'impasto[video]', "
            "or pass --temporal 0"
        ) from None
    return cv2


def check_weight(weight: float) -> float:
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight < 1.0:
        raise ConfigError(f"temporal must be a number in [0, 1) (0 = off), got {weight!r}", field="temporal")
    return float(weight)


class TemporalBlender:
    """Stateful: for each frame of one clip, in order, call :meth:`prepare` (before the network;
    it returns the padding for phase alignment) and then the blender itself on the network's output.

    ``weight``: how much of the motion-compensated previous output a fully trusted pixel keeps
    (0 = off). ``tolerance``: the input mismatch (mean absolute difference per channel, 0–1 scale,
    pooled over 5×5 pixels) at which trust falls to 1/e; sensor noise of 2/255 gives ≈ 0.01, a
    disocclusion or a cut 0.1 and more. ``render_tolerance``: the same for the mismatch between the
    warped previous output and the fresh one. ``period``: the network's total stride. ``preset``:
    DIS optical flow quality (``medium`` ≈ 0.17 s per 1080p frame on two cores, ``fast`` ≈ 0.05 s).
    ``snap``: flow within this many pixels of a whole number is rounded to it, so a pan or a still
    camera is warped exactly; other motion is resampled bicubically.
    """

    def __init__(
        self,
        weight: float = 0.8,
        tolerance: float = 0.05,
        render_tolerance: float = 0.08,
        period: int = 4,
        preset: str = "medium",
        snap: float = 0.25,
    ) -> None:
        self.weight = check_weight(weight)
        check_positive("tolerance", tolerance)
        check_positive("render_tolerance", render_tolerance)
        self.tolerance, self.render_tolerance = float(tolerance), float(render_tolerance)
        if isinstance(period, bool) or not isinstance(period, int) or period < 1:
            raise ConfigError(f"period must be a positive integer, got {period!r}", field="period")
        if preset not in PRESETS:
            raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}", field="preset")
        self.period = period
        if isinstance(snap, bool) or not isinstance(snap, (int, float)) or not 0 <= snap <= 0.5:
            raise ConfigError(f"snap must be between 0 and 0.5 pixels, got {snap!r}", field="snap")
        self.snap = float(snap)
        self._cv2 = cv2 = _cv2() if self.weight > 0 else None
        self._dis = None
        if cv2 is not None:
            self._dis = cv2.DISOpticalFlow_create(
                {
                    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
                }[preset]
            )
            # Bicubic: bilinear resampling of a running average blurs it a little more every frame
            # (Starry Night on the static clip of benchmarks/fast_flicker.py: style loss +22 % with
            # bilinear, +7 % with bicubic, against the plain per-frame output).
            self.interpolation = cv2.INTER_CUBIC
        self._channel_mean = np.full((1, 3), 1 / 3, np.float32)
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self._pending: tuple[np.ndarray, np.ndarray | None] | None = None
        self._drift = np.zeros(2)
        self.last_confidence: np.ndarray | None = None
        """(H, W) float32 confidence used for the last frame (None for the first frame of a clip)."""

    @property
    def enabled(self) -> bool:
        return self._cv2 is not None

    def reset(self) -> None:
        """Forget the previous frame (a new clip)."""
        self._prev = self._pending = self.last_confidence = None
        self._drift = np.zeros(2)

    def prepare(self, frame: np.ndarray) -> tuple[int, int]:
        """Measure the motion since the previous frame; returns ``(left, top)``: pad the network's
        input by that many pixels (reflection) and crop them off its output."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame must be H×W×3 uint8, got {frame.dtype} {frame.shape}")
        if self._cv2 is None:
            return 0, 0
        grey = self._cv2.cvtColor(frame, self._cv2.COLOR_RGB2GRAY)
        flow = None
        if self._prev is not None and self._prev[0].shape == grey.shape:
            # Backward flow: where each pixel of this frame was in the previous one.
            assert self._dis is not None  # created with cv2
            flow = self._dis.calc(grey, self._prev[0], None)
            # The scene moved by -median(flow); keep it on one phase of the stride grid.
            self._drift -= np.median(flow[::4, ::4].reshape(-1, 2), axis=0)
        else:
            self._drift = np.zeros(2)
        self._pending = (grey, flow)
        left, top = (int(-np.round(d)) % self.period for d in self._drift)
        return left, top

    def _pooled_difference(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Mean absolute difference over the channels, averaged over 5×5 pixels (H×W float32)."""
        cv2 = self._cv2
        assert cv2 is not None
        return cv2.blur(cv2.transform(cv2.absdiff(a, b), self._channel_mean), (5, 5))

    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """Blend one frame. ``frame``: the input, H×W×3 uint8 RGB; ``stylized``: the network's output
        for it, H×W×3 float32 in [0, 1]. Returns the output frame (H×W×3 float32 in [0, 1])."""
        if stylized.shape != frame.shape:
            raise ValueError(f"stylized frame {stylized.shape} does not match the input frame {frame.shape}")
        if self._cv2 is None:
            return stylized
        if self._pending is None:
            self.prepare(frame)
        assert self._pending is not None  # prepare() just ran
        grey, flow = self._pending
        self._pending = None
        cv2 = self._cv2
        stylized = np.ascontiguousarray(stylized, dtype=np.float32)
        inp = frame.astype(np.float32) * (1.0 / 255.0)
        h, w = grey.shape
        if flow is None:
            out = stylized
            self.last_confidence = None
        else:
            assert self._prev is not None  # a flow needs a previous frame
            _, pin, pout = self._prev
            if self._grid is None or self._grid[0].shape != grey.shape:
                gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
                self._grid = (gx, gy)
            if self.snap:
                # Whole-pixel motion (pans, a still camera) is warped exactly, not resampled.
                whole = np.round(flow)
                flow = np.where(np.abs(flow - whole) < self.snap, whole, flow)
            mx = self._grid[0] + flow[..., 0]
            my = self._grid[1] + flow[..., 1]
            warped_out = cv2.remap(pout, mx, my, self.interpolation, borderMode=cv2.BORDER_REPLICATE)
            warped_in = cv2.remap(pin, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            err = self._pooled_difference(inp, warped_in) * (1.0 / self.tolerance)
            rerr = self._pooled_difference(stylized, warped_out) * (1.0 / self.render_tolerance)
            conf = np.exp(-(np.square(err) + np.square(rerr)))
            conf *= (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
            self.last_confidence = conf
            out = np.clip(stylized + (self.weight * conf)[..., None] * (warped_out - stylized), 0.0, 1.0)
        self._prev = (grey, inp, out)
        return out
