"""Gatys et al. 2016, "Image Style Transfer Using Convolutional Neural Networks": optimise the pixels
of an image so its VGG-19 ``relu4_2`` features match a photo's and its Gram matrices of
``relu1_1 … relu5_1`` match a painting's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch

from . import losses
from .errors import ConfigError
from .images import Picture, load_image, resize
from .optimize import Callback, optimize
from .vgg import VGG19, check_layers, deepest
from .weights import load_cached

ImageInput = str | os.PathLike | Picture | torch.Tensor


@dataclass(frozen=True)
class StylizeConfig:
    """Every setting of :func:`stylize`, with its default (the CLI takes its defaults from here)."""

    size: int = 512
    """Longest side of the output, in pixels."""
    iters: int = 500
    """Optimiser iterations."""
    content_weight: float = 5.0
    style_weight: float = 100.0
    tv_weight: float = 1e-3
    content_layers: tuple[str, ...] = ("relu4_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    style_scale: float = 1.0
    """Style image's longest side relative to the output's."""
    optimizer: str = "lbfgs"
    lr: float | None = None
    """Step size; None picks the optimiser's default (L-BFGS 1.0, Adam 0.02)."""
    init: str = "content"
    """``content``, ``noise`` or the path of an image to start from."""
    seed: int = 0
    pool: str = "max"
    device: str = "auto"

    def __post_init__(self) -> None:
        _check_range("size", self.size, 16, 8192, integer=True)
        _check_range("iters", self.iters, 1, 100_000, integer=True)
        for name in ("content_weight", "style_weight"):
            if not (getattr(self, name) > 0):
                raise ConfigError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}", field=name)
        if not (self.tv_weight >= 0):
            raise ConfigError(f"tv-weight must be zero or positive, got {self.tv_weight}", field="tv_weight")
        _check_range("style_scale", self.style_scale, 0.05, 8.0)
        if self.optimizer not in ("lbfgs", "adam"):
            raise ConfigError(f"optimizer must be 'lbfgs' or 'adam', got {self.optimizer!r}", field="optimizer")
        if self.lr is not None and not (self.lr > 0):
            raise ConfigError(f"lr must be positive, got {self.lr}", field="lr")
        if self.pool not in ("max", "avg"):
            raise ConfigError(f"pool must be 'max' or 'avg', got {self.pool!r}", field="pool")
        if not self.content_layers or not self.style_layers:
            raise ConfigError("at least one content layer and one style layer are needed", field="layers")
        check_layers(self.content_layers, field="content_layers")
        check_layers(self.style_layers, field="style_layers")
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu, cuda or mps, got {self.device!r}", field="device")


def _check_range(name: str, value, lo, hi, *, integer: bool = False) -> None:
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{name.replace('_', '-')} must be an integer, got {value!r}", field=name)
    if not (lo <= value <= hi):
        raise ConfigError(f"{name.replace('_', '-')} must be between {lo} and {hi}, got {value}", field=name)


@dataclass
class StylizeResult:
    image: torch.Tensor
    """(1, 3, H, W) in [0, 1]."""
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False
    alpha: torch.Tensor | None = None
    """The content image's alpha channel, if it had one (to restore on PNG output)."""


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but CUDA is not available", field="device")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device 'mps' requested but MPS is not available", field="device")
    return torch.device(name)


def feature_extractor(
    layers, *, pool: str = "max", weights: str | os.PathLike | None = None, device: torch.device | None = None
) -> VGG19:
    """A VGG-19 truncated after the deepest of ``layers`` (weights loaded once per process)."""
    vgg = VGG19(load_cached(weights), pool=pool, last_layer=deepest(layers))
    return vgg.to(device or torch.device("cpu"))


def as_picture(image: ImageInput, size: int | None, *, what: str) -> Picture:
    if isinstance(image, Picture):
        return Picture(resize(image.rgb, _fit(image.size, size)), image.alpha) if size else image
    if isinstance(image, torch.Tensor):
        t = image if image.dim() == 4 else image.unsqueeze(0)
        return Picture(resize(t.float(), _fit(tuple(t.shape[-2:]), size)) if size else t.float())
    return load_image(image, size, what=what)


def _fit(hw, size):
    from .images import fit_longest

    return fit_longest(hw, size) if size else hw


def stylize(
    content: ImageInput,
    style: ImageInput,
    config: StylizeConfig | None = None,
    *,
    callback: Callback | None = None,
    weights: str | os.PathLike | None = None,
    **overrides,
) -> StylizeResult:
    """Paint ``content`` in the style of ``style``; returns the image and the loss history.

    ``overrides`` are :class:`StylizeConfig` fields, e.g. ``stylize(c, s, size=256, iters=100)``.
    """
    config = replace(config or StylizeConfig(), **overrides)
    device = resolve_device(config.device)
    content_pic = as_picture(content, config.size, what="content image")
    style_size = max(16, round(config.size * config.style_scale))
    style_pic = as_picture(style, style_size, what="style image")
    c = content_pic.rgb.to(device)
    s = style_pic.rgb.to(device)

    all_layers = tuple(dict.fromkeys(config.content_layers + config.style_layers))
    vgg = feature_extractor(all_layers, pool=config.pool, weights=weights, device=device)
    with torch.no_grad():
        content_targets = {k: v for k, v in vgg(c, config.content_layers).items()}
        style_targets = {k: losses.gram(v) for k, v in vgg(s, config.style_layers).items()}

    def loss_fn(x: torch.Tensor):
        feats = vgg(x, all_layers)
        parts: dict[str, torch.Tensor] = {}
        content = sum(losses.content_loss(feats[k], t) for k, t in content_targets.items())
        style = sum(losses.style_loss(feats[k], g) for k, g in style_targets.items())
        parts["content"] = config.content_weight * content
        parts["style"] = config.style_weight * style
        parts["tv"] = config.tv_weight * losses.total_variation(x)
        return parts["content"] + parts["style"] + parts["tv"], parts

    init = initial_image(config.init, c, seed=config.seed)
    result = optimize(init, loss_fn, iters=config.iters, optimizer=config.optimizer, lr=config.lr, callback=callback)
    return StylizeResult(result.image.cpu(), result.history, result.interrupted, content_pic.alpha)


def initial_image(init: str, content: torch.Tensor, *, seed: int) -> torch.Tensor:
    """``content``, ``noise`` (uniform white noise, seeded) or an image file resized to the content."""
    if init == "content":
        return content.clone()
    if init == "noise":
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=gen).to(content.device)
    path = Path(init)
    pic = load_image(path, what="init image")
    return resize(pic.rgb, tuple(content.shape[-2:])).to(content.device)


def config_fields() -> dict[str, object]:
    """Field name → default, for deriving CLI options."""
    return {f.name: f.default for f in fields(StylizeConfig)}
