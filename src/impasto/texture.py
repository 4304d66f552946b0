"""Gatys et al. 2015, "Texture Synthesis Using Convolutional Neural Networks": optimise white noise
until its VGG-19 Gram matrices match a source image's. Only the style (Gram) loss is used, so the
output can have any size, independent of the source's; with ``tileable`` every convolution wraps
around the image edges (circular padding), which makes the texture seamless when tiled.

Also home of the small helpers the other synthesis pipelines (:mod:`impasto.reconstruct`,
:mod:`impasto.sweep`) share: seeded noise, Gram targets, layer sets.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import torch

from . import losses
from .errors import ConfigError
from .images import load_image, resize
from .optimize import Callback, Optimizer, optimize
from .options import check, option
from .stylize import ImageInput, as_picture, check_device, check_layer_size, resolve_device
from .vgg import LAYERS, VGG19, Pool, check_layers, deepest
from .weights import load_cached

#: Largest side accepted for synthesised images.
MAX_SIDE = 8192
#: Smallest side: VGG-19 needs a few pixels left after its pooling layers.
MIN_SIDE = 16

# --------------------------------------------------------------------------------------------------
# Shared helpers (texture, reconstruct, sweep)


def check_positive(name: str, value) -> None:
    """Raise unless ``value`` is a finite number > 0."""
    label = name.replace("_", "-")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{label} must be a number, got {value!r}", field=name)
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{label} must be a positive number, got {value}", field=name)


def check_layer_set(layers: Sequence[str], *, field: str) -> tuple[str, ...]:
    """Non-empty, known layer names, duplicates removed, order kept."""
    if isinstance(layers, str):
        layers = (layers,)
    layers = tuple(dict.fromkeys(layers))
    if not layers:
        raise ConfigError(f"{field.replace('_', '-')} needs at least one layer", field=field)
    return check_layers(layers, field=field)


def noise(shape: Sequence[int], *, seed: int, device: torch.device | None = None) -> torch.Tensor:
    """Uniform white noise in [0, 1] from a seeded generator (the same seed gives the same image on
    every device)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(tuple(shape), generator=gen).to(device or torch.device("cpu"))


def gram_targets(vgg: VGG19, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Gram matrices of ``image`` at ``layers``, computed once, without gradients."""
    with torch.no_grad():
        return {k: losses.gram(v) for k, v in vgg(image, layers).items()}


def wrap_multiple(layers: Sequence[str]) -> int:
    """Side lengths must be multiples of this for a feature map at ``layers`` to wrap around exactly:
    2 to the number of pooling layers up to the deepest one."""
    stop = LAYERS.index(deepest(layers))
    return 2 ** sum(1 for name in LAYERS[: stop + 1] if name.startswith("pool"))


_SIZE = re.compile(r"^\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` → (width, height); a single number ``"N"`` is a square N×N.

    >>> parse_size("320x200"), parse_size("256")
    ((320, 200), (256, 256))
    """
    m = _SIZE.match(str(text))
    if not m:
        raise ConfigError(
            f"size must be WIDTHxHEIGHT (e.g. 512x256) or one number for a square, got {text!r}", field="size"
        )
    w = int(m.group(1))
    h = int(m.group(2)) if m.group(2) is not None else w
    for name, value in (("width", w), ("height", h)):
        if not MIN_SIDE <= value <= MAX_SIDE:
            raise ConfigError(
                f"size {text!r}: {name} must be between {MIN_SIDE} and {MAX_SIDE}, got {value}", field="size"
            )
    return w, h


# --------------------------------------------------------------------------------------------------
# Texture synthesis


@dataclass(frozen=True)
class TextureConfig:
    """Every setting of :func:`synthesize_texture`, declared once (the CLI and the service read it here)."""

    width: int = option(256, min=MIN_SIDE, max=MAX_SIDE, help="output width in pixels")
    height: int = option(256, min=MIN_SIDE, max=MAX_SIDE, help="output height in pixels")
    iters: int = option(300, min=1, max=100_000, help="iterations")
    style_size: int = option(
        256,
        min=MIN_SIDE,
        max=MAX_SIDE,
        metavar="PX",
        help="longest side the source is resized to before its statistics are taken; sets the scale of "
        "the pattern (the output repeats the source's features at this resolution)",
    )
    style_layers: tuple[str, ...] = option(
        ("relu1_1", "pool1", "pool2", "pool3", "pool4"),
        help="layers whose Gram matrices are matched (Gatys et al. 2015: conv1_1, pool1-4; Caffe's "
        "in-place ReLU makes their conv1_1 our relu1_1)",
    )
    style_weight: float = option(
        1.0, above=0, help="scale of the style loss, > 0 (the only loss: it matters for the step sizes only)"
    )
    pool: Pool = option("avg", help="VGG pooling (Gatys et al. 2015 average for textures)")
    tileable: bool = option(
        False,
        help="seamless texture: convolutions wrap around the edges (sides must be multiples of 16 with "
        "the default layers; cannot start from an --init image)",
    )
    init: str = option(
        "noise",
        metavar="noise|PATH",
        help="start from seeded white noise (as in the paper) or from an image",
    )
    optimizer: Optimizer = option("lbfgs", help="optimiser")
    lr: float | None = option(None, above=0, help="step size (default: 1.0 for L-BFGS, 0.02 for Adam)")
    seed: int = option(0, help="noise seed")
    device: str = option("auto", validate=check_device, help="auto, cpu, cuda or mps")

    def __post_init__(self) -> None:
        check(self)
        object.__setattr__(self, "style_layers", check_layer_set(self.style_layers, field="style_layers"))
        if not str(self.init):
            raise ConfigError(f"init must be 'noise' or an image path, got {self.init!r}", field="init")
        if self.tileable and str(self.init) != "noise":
            raise ConfigError(
                f"--tileable with content: a seamless texture must start from noise, not from '{self.init}'",
                field="tileable",
            )
        if self.tileable:
            m = wrap_multiple(self.style_layers)
            if self.width % m or self.height % m:
                up = lambda v: -(-v // m) * m  # noqa: E731
                raise ConfigError(
                    f"--tileable needs a width and height that are multiples of {m} for these style layers "
                    f"(got {self.width}x{self.height}; try {up(self.width)}x{up(self.height)})",
                    field="size",
                )


@dataclass
class TextureResult:
    image: torch.Tensor
    """(1, 3, height, width) in [0, 1]."""
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False


def synthesize_texture(
    style: ImageInput,
    config: TextureConfig | None = None,
    *,
    callback: Callback | None = None,
    weights: str | os.PathLike | None = None,
    **overrides,
) -> TextureResult:
    """Synthesise a texture with the Gram statistics of ``style`` at ``width`` × ``height``.

    ``overrides`` are :class:`TextureConfig` fields, e.g. ``synthesize_texture(s, width=512, tileable=True)``.
    """
    config = replace(config or TextureConfig(), **overrides)
    device = resolve_device(config.device)
    source = as_picture(
        style, config.style_size, what="style image", layers=config.style_layers, field="style"
    ).rgb.to(device)
    shape = (1, 3, config.height, config.width)
    check_layer_size(shape[-2:], config.style_layers, "output", field="size")
    if str(config.init) == "noise":
        init = noise(shape, seed=config.seed, device=device)
    else:
        init = resize(load_image(config.init, what="init image").rgb, shape[-2:]).to(device)

    vgg = VGG19(load_cached(weights), pool=config.pool, last_layer=deepest(config.style_layers)).to(device)
    # Targets come from the source with ordinary zero padding: it is not periodic itself.
    targets = gram_targets(vgg, source, config.style_layers)
    if config.tileable:
        vgg = VGG19(
            load_cached(weights),
            pool=config.pool,
            last_layer=deepest(config.style_layers),
            padding_mode="circular",
        ).to(device)

    def loss_fn(x: torch.Tensor):
        feats = vgg(x, config.style_layers)
        parts = {
            f"style.{k}": losses.style_loss(feats[k], g) * config.style_weight for k, g in targets.items()
        }
        total = sum(parts.values())
        return total, {"style": total, **parts}

    result = optimize(
        init, loss_fn, iters=config.iters, optimizer=config.optimizer, lr=config.lr, callback=callback
    )
    return TextureResult(result.image.cpu(), result.history, result.interrupted)


def style_loss_of(
    image: torch.Tensor,
    style: ImageInput,
    config: TextureConfig | None = None,
    *,
    weights: str | os.PathLike | None = None,
) -> Mapping[str, float]:
    """The per-layer style loss of ``image`` against ``style`` under ``config`` (for checks and tests)."""
    config = config or TextureConfig()
    source = as_picture(style, config.style_size, what="style image").rgb
    vgg = VGG19(
        load_cached(weights),
        pool=config.pool,
        last_layer=deepest(config.style_layers),
        padding_mode="circular" if config.tileable else "zeros",
    )
    plain = VGG19(load_cached(weights), pool=config.pool, last_layer=deepest(config.style_layers))
    targets = gram_targets(plain, source, config.style_layers)
    with torch.no_grad():
        feats = vgg(image, config.style_layers)
        return {k: float(losses.style_loss(feats[k], g) * config.style_weight) for k, g in targets.items()}


def tile(image: torch.Tensor, nx: int = 2, ny: int = 2) -> torch.Tensor:
    """Repeat an image ``nx`` × ``ny`` times (to check a tileable texture by eye)."""
    return image.repeat(1, 1, ny, nx)


__all__ = ["TextureConfig", "TextureResult", "parse_size", "synthesize_texture", "tile"]
