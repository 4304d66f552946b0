"""Stylizing with a trained fast network: pick or blend styles, dial the strength, batch folders.

Blending interpolates the conditional-instance-norm parameters (Dumoulin et al. 2017, section 4.3):
style weights ``0:0.5,3:0.5`` give each normalisation layer γ = 0.5·γ₀ + 0.5·γ₃ (same for β).

Strength is a pixel blend, ``output = (1 - strength)·content + strength·stylized``: 0 returns the
content photo, 1 the network's output. (It is not a property of the network: Dumoulin et al. have no
"identity style" to interpolate towards, and a plain lerp is predictable.)

Faces (``faces="auto"``, :mod:`impasto.faces`): the blend becomes per pixel, ``strength ·
(1 - region · (1 - face_style))``, so inside the feathered face region only ``face_style`` of the
strength is kept; an image without faces takes exactly the path it took before.
"""

from __future__ import annotations

import copy
import math
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from .. import faces
from ..device import device_option, resolve_device
from ..errors import ConfigError
from ..faces import Faces, face_style_option, faces_option
from ..images import ImageInput, Picture, check_min_side, fit_longest, load_image, resize, size_of
from ..options import check, option
from ..precision import Precision
from ..precision import resolve as resolve_precision
from .models import ModelError, load_model, resolve_model, style_names
from .network import TransformerNet, for_inference
from .painting import check_style_weights, style_size_option, style_weights_option


def native_size_option(minimum: int = 16) -> Any:
    """The ``size`` field of a feed-forward pipeline's config: the output's longest side, by default the
    input's own (these networks paint at any resolution)."""
    return option(
        None,
        min=minimum,
        max=8192,
        help="longest side of the output (default: the input's native resolution)",
    )


@dataclass(frozen=True)
class FastConfig:
    """Settings of :func:`stylize_fast`, declared once (the CLI and the web service read them here)."""

    model: str | None = option(
        None,
        metavar="NAME|PATH",
        help="model name (see `impasto styles`) or .safetensors file (default: the shipped model)",
    )
    style: str = option(
        "0",
        metavar="K|NAME|K:W,...",
        help="style index or name, or a blend such as 0:0.5,3:0.5 (weights are normalised)",
    )
    strength: float = option(
        1.0,
        min=0.0,
        max=1.0,
        help="0 = the photo, 1 = fully stylized; a pixel blend in between, or with --style-image an "
        "interpolation from the photo's own style to the painting's",
    )
    size: int | None = native_size_option()
    # With paintings as the style (the web service's `fast` kind; the CLI's --style-image takes its own
    # PATH:WEIGHT and --style-size): the arbitrary-style network's settings, declared once beside it.
    style_weights: tuple[float, ...] | None = style_weights_option()
    style_size: int | None = style_size_option(cli=False)
    device: str = device_option()
    precision: Precision = option(
        "auto",
        help="network arithmetic: auto = bf16 where the CPU/GPU runs it natively (AVX512-BF16/AMX, "
        "Ampere+; ≈ 2× faster, mean pixel change ≈ 0.5/255), else fp32",
    )
    faces: Faces = faces_option("a lower strength", "one strength everywhere")
    face_style: float = face_style_option("share of the strength kept on faces, 0-1")

    def __post_init__(self) -> None:
        check(self)
        if self.model is not None and not str(self.model).strip():
            raise ConfigError(f"model must be a model name or file path, got {self.model!r}", field="model")
        if not self.style.strip():
            raise ConfigError(
                f"style must be an index, a name or a blend like '0:0.5,3:0.5', got {self.style!r}",
                field="style",
            )
        parse_style(self.style)  # syntax only; indices are checked against the model at run time
        check_style_weights(self.style_weights)  # their count against the paintings: at submit


def parse_style(spec: str) -> list[tuple[str, float]]:
    """``"3"`` → [("3", 1.0)]; ``"0:0.5,3:0.5"`` → [("0", 0.5), ("3", 0.5)]. Keys are indices or names."""
    parts = [p.strip() for p in str(spec).split(",")]
    out: list[tuple[str, float]] = []
    for part in parts:
        if not part:
            raise ConfigError(
                f"style blend '{spec}' has an empty entry; use e.g. '0:0.5,3:0.5'", field="style"
            )
        key, _, weight = part.rpartition(":") if ":" in part else (part, "", "1")
        key = key.strip()
        try:
            w = float(weight)
        except ValueError:
            raise ConfigError(
                f"style blend '{spec}': weight '{weight}' is not a number; use e.g. '0:0.5,3:0.5'",
                field="style",
            ) from None
        if not key:
            raise ConfigError(f"style blend '{spec}': missing style before ':{weight}'", field="style")
        if not math.isfinite(w) or w < 0:
            raise ConfigError(
                f"style blend '{spec}': weights must be zero or positive, got {weight}", field="style"
            )
        out.append((key, w))
    if len(out) > 1 and sum(w for _, w in out) <= 0:
        raise ConfigError(f"style blend '{spec}': the weights sum to zero", field="style")
    return out


def style_vector(spec: str, names: list[str]) -> torch.Tensor:
    """Normalised style weights (n_styles,) for a spec, checked against a model's style names."""
    n = len(names)
    w = torch.zeros(n)
    for key, weight in parse_style(spec):
        if key.lstrip("-").isdigit():
            i = int(key)
            if not 0 <= i < n:
                raise ConfigError(
                    f"style index {i} is out of range: this model has styles 0-{n - 1}", field="style"
                )
        elif key in names:
            i = names.index(key)
        else:
            raise ConfigError(f"unknown style '{key}'; this model has: {', '.join(names)}", field="style")
        w[i] += weight
    total = float(w.sum())
    if total <= 0:
        raise ConfigError(f"style '{spec}' gives every style zero weight", field="style")
    return w / total


@dataclass(frozen=True)
class LoadedModel:
    net: TransformerNet
    meta: dict
    path: Path

    @property
    def styles(self) -> list[str]:
        return style_names(self.meta)


_CACHE: dict[tuple[str, float, int], LoadedModel] = {}
_RUNNERS: dict[tuple[int, torch.dtype, str], TransformerNet] = {}
_LOCK = threading.Lock()


def _memory_format(device: torch.device) -> torch.memory_format:
    """How the inference network and its input are laid out: channels-last on CPU (see :func:`_runner`)."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def _runner(loaded: LoadedModel, dtype: torch.dtype, device: torch.device) -> TransformerNet:
    """The model's network on ``device`` in ``dtype``: a cached copy, so the shared float32 network
    that :func:`load` hands out is never moved or cast under another thread's feet."""
    key = (id(loaded.net), dtype, str(device))
    with _LOCK:
        net = _RUNNERS.get(key)
        if net is None:
            if device.type == "cpu":
                # Exact rewrites of the output and upsampling layers, in channels-last memory (what
                # oneDNN's convolutions use natively; NCHW pays a reorder per layer): 512 px in bf16
                # from 0.114 s to 0.079–0.098 s on this project's CPU (benchmarks/RESULTS.md).
                # Module.to takes memory_format at run time; torch's type stubs leave it out.
                net = for_inference(loaded.net).to(  # type: ignore[call-overload]
                    device=device, dtype=dtype, memory_format=_memory_format(device)
                )
            else:
                net = copy.deepcopy(loaded.net).to(device=device, dtype=dtype).eval().requires_grad_(False)
            _RUNNERS[key] = net
        return net


def load(model: str | os.PathLike | None = None) -> LoadedModel:
    """Resolve and load a model (cached per process by path and modification time; thread-safe)."""
    path = resolve_model(model)
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelError(f"model file '{path}' cannot be read: {exc.strerror}", field="model") from None
    key = (str(path.resolve()), st.st_mtime, st.st_size)
    with _LOCK:
        if key not in _CACHE:
            net, meta = load_model(path)
            _CACHE[key] = LoadedModel(net, meta, path)
        return _CACHE[key]


def _as_tensor(content: ImageInput, size: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(content, Picture):
        rgb, alpha = content.rgb, content.alpha
    elif isinstance(content, torch.Tensor):
        rgb, alpha = (content if content.dim() == 4 else content.unsqueeze(0)).float(), None
        if rgb.dim() != 4 or rgb.shape[1] != 3:
            raise ConfigError(
                f"content tensor must have shape (1, 3, H, W), got {tuple(content.shape)}", field="content"
            )
    else:
        pic = load_image(content, what="content image")
        rgb, alpha = pic.rgb, pic.alpha
    if size is not None and max(rgb.shape[-2:]) != size:
        rgb = resize(rgb, fit_longest(size_of(rgb), size))
    check_size(size_of(rgb))
    return rgb.clamp(0, 1), alpha


#: Smallest side (px) an image may have for the fast networks: the first layer's 9×9 reflection padding
#: needs more than 4 px (torch raises below), and 8 leaves two positions after the two stride-2 downsamplings.
MIN_SIDE = 8


def check_size(
    hw: tuple[int, int], what: str = "content image", *, need: int = MIN_SIDE, why: str = "the fast network"
) -> None:
    """Refuse (one line, naming the upload ``content``) a photo whose working size ``hw`` has a side below
    ``need`` pixels: :data:`MIN_SIDE` for the fast network; another network passes its own."""
    check_min_side(hw, need, what, why=why, field="content", hint=" (use a larger --size, or a larger image)")


def apply(
    loaded: LoadedModel,
    content: torch.Tensor,
    style: torch.Tensor,
    strength: float,
    device: torch.device | None = None,
    precision: str = "auto",
    *,
    face: torch.Tensor | None = None,
    face_style: float = 1.0,
) -> torch.Tensor:
    """Run the network on (N, 3, H, W) content with style weights (n_styles,) and pixel-blend by strength
    (per pixel with a face region ``face`` (1, 1, H, W): ``face_style`` of the strength on faces)."""
    device = device or torch.device("cpu")
    if strength == 0:
        return content.clone()
    dtype = resolve_precision(precision, device)
    net = _runner(loaded, dtype, device)
    with torch.inference_mode():
        # The whole network (weights, image, γ/β blend) runs in dtype; the output comes back as float32.
        x = content.to(device=device, dtype=dtype).contiguous(memory_format=_memory_format(device))
        out = net(x, style.to(device)).float().cpu().contiguous()
    if face is not None:
        out = torch.lerp(content, out, strength * (1 - face.to(out.dtype) * (1 - face_style)))
    elif strength < 1:
        out = torch.lerp(content, out, strength)
    return out.clamp(0, 1)


def stylize_fast(
    content: ImageInput, config: FastConfig | None = None, *, face_mask=None, **overrides
) -> torch.Tensor:
    """Stylize one image with a fast network → (1, 3, H, W) in [0, 1] at the input's resolution
    (or ``size``). ``overrides`` are :class:`FastConfig` fields: ``stylize_fast("a.jpg", style="2")``;
    ``face_mask`` (image or tensor) gives the face region by hand."""
    config = replace(config or FastConfig(), **overrides) if overrides else (config or FastConfig())
    return stylize_picture(content, config, face_mask=face_mask).rgb


def stylize_picture(content: ImageInput, config: FastConfig, *, face_mask=None) -> Picture:
    """Like :func:`stylize_fast` but keeps the content's alpha channel (for PNG output)."""
    loaded = load(config.model)
    w = style_vector(config.style, loaded.styles)
    rgb, alpha = _as_tensor(content, config.size)
    region = (
        None
        if config.strength == 0 and face_mask is None
        else faces.face_region(rgb, config.faces, face_mask)
    )
    out = apply(
        loaded,
        rgb,
        w,
        config.strength,
        resolve_device(config.device),
        config.precision,
        face=region,
        face_style=config.face_style,
    )
    return Picture(out, alpha)


__all__ = [
    "FastConfig",
    "LoadedModel",
    "load",
    "parse_style",
    "style_vector",
    "stylize_fast",
    "stylize_picture",
]
