"""Training the fast network with perceptual losses (Johnson et al. 2016), N styles at once with
conditional instance normalisation (Dumoulin et al. 2017), optionally with the stability loss of
Gupta et al. 2017 against video flicker.

Each step takes a batch of random crops of the training photos; image ``i`` of step ``s`` is trained
towards style ``(s * batch + i) mod n_styles``, so every style is seen equally often and one step
trains several styles. Checkpoints hold everything needed to resume the same run exactly (network,
Adam state, step, data RNG); a usable model file is written alongside at every checkpoint.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .. import losses
from ..errors import ConfigError, ImpastoError
from ..images import load_image, open_image
from ..options import check, option
from ..output import atomic_write, save_image
from ..precision import Precision
from ..precision import apply as apply_precision
from ..progress import Callback, Clock
from ..vgg import check_layers, feature_extractor
from ..weights import sha256_file
from .models import load_model, save_model
from .network import TransformerNet, Upsample

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
#: Fewer training photos than this gives a warning (the network would just memorise them).
FEW_IMAGES = 8

Warn = Callable[[str], None]


class DataError(ImpastoError):
    """The training data directory is missing, empty or unreadable."""


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of :func:`train`, declared once (the CLI reads it here)."""

    styles: tuple[str, ...] = option((), cli=False, help="style images, one per style (order = style index)")
    data: tuple[str, ...] = option(
        (), cli=False, help="directories of training photos (searched recursively)"
    )
    output: str = option("model.safetensors", cli=False, help="model file to write (.safetensors)")
    style_names: tuple[str, ...] = option(
        (), cli=False, help="display names (default: the style files' stems)"
    )
    width: int = option(
        16, min=2, max=256, help="first-layer channels (Johnson et al.: 32; 16 is the fast variant)"
    )
    blocks: int = option(5, min=0, max=16, help="residual blocks")
    upsample: Upsample = option(
        "nearest",
        help="the decoder's x2 upsampling before each convolution: nearest (Dumoulin et al.) or bilinear "
        "(no stride-4 hatching; see benchmarks/hatching.py)",
    )
    crop: int = option(
        128, min=32, max=2048, help="training crop size, a multiple of 4 (Johnson et al.: 256)"
    )
    batch: int = option(4, min=1, max=256, help="batch size")
    style_size: int = option(
        256, min=32, max=4096, help="style image longest side when their Gram matrices are computed"
    )
    steps: int = option(2000, min=1, max=10_000_000, help="total steps of the run")
    lr: float = option(2e-3, above=0, help="Adam learning rate")
    content_weight: float = option(1.0, above=0, help="weight of the content loss")
    style_weight: float = option(10.0, above=0, help="weight of the style loss")
    tv_weight: float = option(1e3, min=0, help="total variation weight")
    stability_weight: float = option(
        0.0, min=0, help="Gupta et al. 2017 stability loss against video flicker (0 = off)"
    )
    stability_noise: float = option(
        0.04, min=0, help="standard deviation of the stability loss's Gaussian pixel noise ([0, 1] scale)"
    )
    shift_weight: float = option(
        0.0,
        min=0,
        help="shift-equivariance loss: the output for the crop shifted by 1-3 px must be the shifted output "
        "(against the stride-4 hatching; 0 = off)",
    )
    content_layers: tuple[str, ...] = option(("relu2_2",), metavar="L1,L2", help="VGG-19 content layers")
    style_layers: tuple[str, ...] = option(
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1"), metavar="L1,L2", help="VGG-19 style layers"
    )
    precision: Precision = option(
        "auto",
        help="auto = bfloat16 where the CPU runs it fast, else float32; the transformer under autocast "
        "and VGG-19 in that dtype (losses and Gram matrices stay float32)",
    )
    checkpoint_every: int = option(50, min=1, max=10**9, help="steps between checkpoints")
    preview_every: int = option(100, min=1, max=10**9, help="steps between previews")
    max_minutes: float | None = option(
        None, above=0, help="stop this session after N minutes (checkpointed; run again to continue)"
    )
    seed: int = option(0, help="random seed")
    add_style_to: str | None = option(
        None,
        cli=False,
        help="existing model: keep its styles and weights, train only the new styles' γ, β (Dumoulin et al.)",
    )
    init_from: str | None = option(
        None,
        metavar="MODEL",
        help="fine-tune: start from this model file's weights (same number of styles; its width and "
        "blocks are kept), e.g. to move a trained model to --upsample bilinear",
    )
    description: str = option("", help="free text stored in the model's metadata")

    def __post_init__(self) -> None:
        check(self)
        if not self.styles:
            raise ConfigError("at least one style image is needed (--style)", field="styles")
        if not self.data:
            raise ConfigError("a training data directory is needed (--data)", field="data")
        if self.style_names and len(self.style_names) != len(self.styles):
            raise ConfigError(
                f"{len(self.style_names)} style names given for {len(self.styles)} styles",
                field="style_names",
            )
        if self.crop % 4:
            raise ConfigError(f"crop must be a multiple of 4, got {self.crop}", field="crop")
        check_layers(self.content_layers, field="content_layers")
        check_layers(self.style_layers, field="style_layers")
        if self.init_from is not None and self.add_style_to is not None:
            raise ConfigError(
                "init_from fine-tunes every weight; add_style_to trains only new styles' γ, β: give one",
                field="init_from",
            )

    @property
    def checkpoint(self) -> Path:
        return Path(self.output).with_suffix(".ckpt")

    @property
    def preview_dir(self) -> Path:
        out = Path(self.output)
        return out.with_name(out.stem + "-previews")


@dataclass
class TrainResult:
    model: Path
    steps: int
    seconds: float
    """Training time summed over all sessions of this run (resumes included)."""
    interrupted: bool = False
    stop_reason: str = ""
    history: list[dict[str, float]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- data


def find_images(dirs: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        p = Path(d).expanduser()
        if not p.is_dir():
            raise DataError(f"training data directory '{p}' does not exist", field="data")
        files += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    if not files:
        raise DataError(
            f"no training images ({', '.join(IMAGE_SUFFIXES)}) found in {', '.join(dirs)}", field="data"
        )
    return files


def load_dataset(files: list[Path], crop: int) -> list[torch.Tensor]:
    """Each photo as uint8 (3, H, W) with its shorter side ``crop * 4 / 3`` (crops cover 3/4 of it)."""
    short = round(crop * 4 / 3)
    out = []
    for f in files:
        im = open_image(f, what="training image").convert("RGB")
        scale = short / min(im.size)
        w, h = max(crop, round(im.width * scale)), max(crop, round(im.height * scale))
        from PIL import Image

        im = im.resize((w, h), Image.Resampling.LANCZOS)
        out.append(
            torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
            .view(h, w, 3)
            .permute(2, 0, 1)
            .clone()
        )
    return out


def sample_batch(data: list[torch.Tensor], batch: int, crop: int, gen: torch.Generator) -> torch.Tensor:
    """Random crops with random horizontal flips → (batch, 3, crop, crop) in [0, 1]."""
    out = []
    for _ in range(batch):
        img = data[int(torch.randint(len(data), (1,), generator=gen))]
        _, h, w = img.shape
        y = int(torch.randint(h - crop + 1, (1,), generator=gen))
        x = int(torch.randint(w - crop + 1, (1,), generator=gen))
        c = img[:, y : y + crop, x : x + crop]
        if bool(torch.randint(2, (1,), generator=gen)):
            c = c.flip(-1)
        out.append(c)
    return torch.stack(out).float() / 255.0


def style_indices(step: int, batch: int, n_styles: int, trainable: list[int]) -> torch.Tensor:
    """Style of each image in step ``step`` (0-based): cycles through the trainable styles."""
    k = len(trainable)
    return torch.tensor([trainable[(step * batch + i) % k] for i in range(batch)])


# ------------------------------------------------------------------------------------------- loss


class PerceptualLoss:
    """Content, style (per-image target Gram), total-variation and stability terms, named."""

    def __init__(self, config: TrainConfig, style_images: list[torch.Tensor], *, weights=None) -> None:
        self.config = config
        self.layers = tuple(dict.fromkeys(config.content_layers + config.style_layers))
        self.vgg = feature_extractor(self.layers, weights=weights)
        with torch.no_grad():
            grams: dict[str, list[torch.Tensor]] = {k: [] for k in config.style_layers}
            for s in style_images:
                feats = self.vgg(s, config.style_layers)  # float32: targets are computed once, exactly
                for k in config.style_layers:
                    grams[k].append(losses.gram(feats[k])[0])
        self.grams = {k: torch.stack(v) for k, v in grams.items()}  # (n_styles, C, C)
        # Mixed precision (impasto.precision, as every VGG pipeline): VGG convolutions in bfloat16 where
        # the CPU runs it fast; Gram matrices and losses are computed in float32 by impasto.losses.
        apply_precision(self.vgg, config.precision, "cpu")
        self.bf16 = self.vgg.dtype == torch.bfloat16

    def __call__(
        self, net: TransformerNet, x: torch.Tensor, styles: torch.Tensor, gen: torch.Generator | None = None
    ):
        c = self.config
        onehot = F.one_hot(styles, net.n_styles).float()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            y = net(x, onehot)
        with torch.no_grad():
            content_t = self.vgg(x, c.content_layers)
        feats = self.vgg(y.float(), self.layers)
        parts: dict[str, torch.Tensor] = {}
        parts["content"] = c.content_weight * sum(
            (losses.content_loss(feats[k], content_t[k]) for k in c.content_layers), torch.zeros(())
        )
        style = torch.zeros(())
        for k in c.style_layers:
            g = losses.gram(feats[k])  # float32
            style = style + ((g - self.grams[k][styles]) ** 2).mean()
        parts["style"] = c.style_weight * style
        parts["tv"] = c.tv_weight * losses.total_variation(y)
        if c.stability_weight > 0:
            # Gupta et al. 2017: the output for a slightly noisy input should equal the output for the
            # clean one (no optical flow needed); we use Gaussian pixel noise.
            noise = torch.randn(x.shape, generator=gen) * c.stability_noise
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                y_noisy = net((x + noise).clamp(0, 1), onehot)
            parts["stability"] = c.stability_weight * ((y_noisy.float() - y.float()) ** 2).mean()
        if c.shift_weight > 0:
            parts["shift"] = c.shift_weight * self.shift_loss(net, x, y, onehot, gen)
        total = sum(parts.values())
        return total, parts

    #: Pixels left out at each border of the shift loss (where padding, not the grid, differs).
    SHIFT_MARGIN = 8

    def shift_loss(
        self,
        net: TransformerNet,
        x: torch.Tensor,
        y: torch.Tensor,
        onehot: torch.Tensor,
        gen: torch.Generator | None,
    ) -> torch.Tensor:
        """Mean squared difference between the output of the crop shifted by (dy, dx) — 1-3 px each, never
        a whole stride of 4 — and the same window of the unshifted output, away from the borders.

        Not in Johnson et al. or Dumoulin et al.: a pattern locked to the network's stride-4 grid (the
        hatching of ``benchmarks/hatching.py``) moves with the grid, not with the image, so it is what
        this term penalises. It is Gupta et al. 2017's stability loss with a sub-stride shift in place
        of pixel noise, reaching Zhang 2019's shift-equivariance by training rather than blur-pooling
        (which, in the encoder, did not reduce the hatching)."""
        dy, dx = (int(v) for v in torch.randint(1, 4, (2,), generator=gen))
        h, w = x.shape[-2] - 4, x.shape[-1] - 4  # multiples of 4 again
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            shifted = net(x[..., dy : dy + h, dx : dx + w], onehot)
        m = self.SHIFT_MARGIN
        want = y[..., dy + m : dy + h - m, dx + m : dx + w - m].float()
        return ((shifted[..., m:-m, m:-m].float() - want) ** 2).mean()


# ------------------------------------------------------------------------------------------ train


def _style_meta(config: TrainConfig, base_styles: list[dict]) -> list[dict]:
    names = config.style_names or tuple(Path(s).stem for s in config.styles)
    return base_styles + [
        {"name": n, "file": Path(s).name, "sha256": sha256_file(s)}
        for n, s in zip(names, config.styles, strict=True)
    ]


#: Settings that may change when a run is resumed (the change is recorded in the model's metadata).
#: ``precision`` changes only the arithmetic (and checkpoints from before it existed have ``bf16``).
TUNABLE = (
    "lr",
    "content_weight",
    "style_weight",
    "tv_weight",
    "stability_weight",
    "stability_noise",
    "shift_weight",
    "precision",
)
#: Settings a checkpoint records; all but TUNABLE must match for a resume.
SETTINGS = (
    "width",
    "blocks",
    "upsample",
    "crop",
    "batch",
    "style_size",
    "content_layers",
    "style_layers",
    "seed",
    *TUNABLE,
)


#: What a checkpoint written before a setting existed had instead.
SETTING_DEFAULTS = {"upsample": "nearest", "shift_weight": 0.0}


def _settings(config: TrainConfig) -> dict:
    return {k: getattr(config, k) for k in SETTINGS}


def _same_run(saved: dict, config: TrainConfig) -> str | None:
    """Why a checkpoint cannot continue this run, or None."""
    now = _settings(config)
    for k, v in now.items():
        if k in TUNABLE:
            continue
        old = saved["settings"].get(k, SETTING_DEFAULTS.get(k))
        if (list(old) if isinstance(old, (list, tuple)) else old) != (list(v) if isinstance(v, tuple) else v):
            return f"{k} was {old!r}, now {v!r}"
    if saved["style_hashes"] != [sha256_file(s) for s in config.styles]:
        return "the style images differ"
    return None


def train(
    config: TrainConfig,
    *,
    callback: Callback | None = None,
    warn: Warn | None = None,
    resume: bool = True,
    weights=None,
    data_images: list[torch.Tensor] | None = None,
    validation: torch.Tensor | None = None,
) -> TrainResult:
    """Train (or resume training) a multi-style network; returns where the model was written.

    ``data_images`` (uint8 (3, H, W) tensors) replaces reading ``config.data`` (for tests). Stops after
    ``config.steps`` steps, after ``config.max_minutes`` of this session, on Ctrl-C or when the callback
    raises :class:`impasto.optimize.Cancelled` — always writing a checkpoint and the model first.
    """
    from ..optimize import Cancelled

    warn = warn or (lambda msg: None)
    torch.manual_seed(config.seed)
    if config.add_style_to or config.init_from:  # the new model keeps the base model's width and depth
        from .models import read_metadata

        base_info = read_metadata(config.add_style_to or config.init_from or "")
        config = replace(config, width=int(base_info["width"]), blocks=int(base_info.get("blocks", 5)))
        if config.init_from and int(base_info["n_styles"]) != len(config.styles):
            raise ConfigError(
                f"model '{config.init_from}' has {base_info['n_styles']} styles; {len(config.styles)} style "
                "images were given (fine-tuning keeps the styles: give the same ones, in order)",
                field="init_from",
            )
    ckpt = config.checkpoint
    saved = None
    if resume and ckpt.exists():  # checked first, so a mismatch fails before any slow loading
        try:
            saved = torch.load(ckpt, map_location="cpu", weights_only=False)
        except Exception:
            raise ImpastoError(f"checkpoint '{ckpt}' is unreadable; delete it to start over") from None
        why = _same_run(saved, config)
        if why is not None:
            raise ImpastoError(
                f"checkpoint '{ckpt}' belongs to a different run ({why}); delete it or change -o"
            )
    if data_images is None:
        files = find_images(config.data)
        if len(files) < FEW_IMAGES:
            warn(f"only {len(files)} training images; the network will overfit them (hundreds are usual)")
        data_images = load_dataset(files, config.crop)
    style_pics = [load_image(s, config.style_size, what="style image").rgb for s in config.styles]

    base_styles: list[dict] = []
    if config.add_style_to:
        base, base_meta = load_model(config.add_style_to)
        base_styles = list(base_meta.get("styles", []))
        n_base = base.n_styles
        net = TransformerNet(n_base + len(config.styles), base.width, base.blocks, base.upsample)
        state = base.state_dict()
        with torch.no_grad():
            for name, p in net.named_parameters():
                if name.endswith((".gamma", ".beta")):
                    old = state[name]
                    p[:n_base] = old
                    p[n_base:] = old.mean(dim=0)  # new styles start from the average style
                else:
                    p.copy_(state[name])
        trainable = list(range(n_base, net.n_styles))
        # Dumoulin et al. 2017, section 4.2: a new style is learned by training only its γ, β.
        params = [p for n, p in net.named_parameters() if n.endswith((".gamma", ".beta"))]
        for n, p in net.named_parameters():
            p.requires_grad_(n.endswith((".gamma", ".beta")))
        # Style images for the loss: only the new ones are trained, but targets are indexed by style.
        style_targets = [torch.zeros(1, 3, 32, 32)] * n_base + style_pics
    else:
        net = TransformerNet(len(config.styles), config.width, config.blocks, config.upsample)
        if config.init_from and saved is None:  # a resumed run has the fine-tuned weights already
            base, _ = load_model(config.init_from)
            net.load_state_dict(base.state_dict())  # the upsample mode has no weights of its own
        trainable = list(range(net.n_styles))
        params = list(net.parameters())
        style_targets = style_pics
    net.train()
    loss = PerceptualLoss(config, style_targets, weights=weights)
    opt = torch.optim.Adam(params, lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    step, seconds_before = 0, 0.0
    history: list[dict[str, float]] = []
    changes: list[dict] = []

    if saved is not None:
        net.load_state_dict(saved["net"])
        opt.load_state_dict(saved["opt"])
        for group in opt.param_groups:  # a changed --lr applies from here on
            group["lr"] = config.lr
        gen.set_state(saved["gen"])
        step, seconds_before = saved["step"], saved["seconds"]
        history = saved.get("history", [])
        changes = list(saved.get("changes", []))
        before = {k: saved["settings"].get(k, SETTING_DEFAULTS.get(k)) for k in TUNABLE}
        changed = {k: getattr(config, k) for k in TUNABLE if before[k] != getattr(config, k)}
        if changed:
            changes.append({"step": step, **changed})
            warn(
                f"resuming at step {step} with changed settings: "
                + ", ".join(f"{k} {before[k]} -> {v}" for k, v in changed.items())
            )

    meta: dict[str, Any] = {
        "styles": _style_meta(config, base_styles),
        "description": config.description,
        "training": {**_settings(config), "data_images": len(data_images)},
    }
    if config.init_from:
        meta["training"]["init_from"] = _init_meta(config.init_from)

    def write(steps_done: int, seconds: float) -> None:
        state = {
            "net": net.state_dict(),
            "opt": opt.state_dict(),
            "gen": gen.get_state(),
            "step": steps_done,
            "seconds": seconds,
            "settings": _settings(config),
            "style_hashes": [sha256_file(s) for s in config.styles],
            "history": history,
            "changes": changes,
        }
        import io

        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write(ckpt, lambda fh: fh.write(buf.getvalue()))
        meta["training"].update(steps=steps_done, seconds=round(seconds, 1))
        if changes:
            meta["training"]["changes"] = changes
        save_model(net, config.output, meta)

    if validation is not None:
        config.preview_dir.mkdir(parents=True, exist_ok=True)
    clock = Clock.single(config.steps, callback, done=step, elapsed_before=seconds_before)
    start = clock.start
    interrupted, reason = False, "done"
    session_budget = None if config.max_minutes is None else config.max_minutes * 60.0
    try:
        while step < config.steps:
            x = sample_batch(data_images, config.batch, config.crop, gen)
            styles = style_indices(step, config.batch, net.n_styles, trainable)
            opt.zero_grad(set_to_none=True)
            total, parts = loss(net, x, styles, gen)
            value = float(total.detach())
            if not math.isfinite(value):
                reason = f"loss became {value}"
                break
            total.backward()
            opt.step()
            step += 1
            row = {k: float(v.detach()) for k, v in parts.items()}
            row["total"] = value
            history.append(row)
            elapsed = time.perf_counter() - start
            if step % config.checkpoint_every == 0:
                write(step, seconds_before + elapsed)
            preview = None
            if validation is not None and step % config.preview_every == 0:
                preview = render_preview(net, validation)
                save_image(preview, config.preview_dir / f"step{step:06d}.png")
            clock.report(0, step, row, preview)
            if session_budget is not None and elapsed >= session_budget:
                reason = "max-minutes reached"
                break
    except KeyboardInterrupt:
        interrupted, reason = True, "interrupted"
    except Cancelled:
        interrupted, reason = True, "cancelled"
    seconds = seconds_before + (time.perf_counter() - start)
    write(step, seconds)
    return TrainResult(Path(config.output), step, seconds, interrupted, reason, history)


def _init_meta(path: str) -> dict:
    """What a fine-tuned model records of its starting model: file, SHA-256 and how it was trained."""
    from .models import read_metadata

    before = read_metadata(path).get("training", {})
    return {
        "file": Path(path).name,
        "sha256": sha256_file(path),
        "steps": before.get("steps"),
        "seconds": before.get("seconds"),
        "upsample": read_metadata(path).get("upsample", "nearest"),
    }


def render_preview(net: TransformerNet, photo: torch.Tensor) -> torch.Tensor:
    """The validation photo in every style of ``net``, side by side → (1, 3, H, W·n)."""
    was_training = net.training
    net.eval()
    with torch.no_grad():
        outs = [net(photo, F.one_hot(torch.tensor(i), net.n_styles).float()) for i in range(net.n_styles)]
    net.train(was_training)
    return torch.cat([photo, *outs], dim=-1).clamp(0, 1)


def validation_photo(path: str | os.PathLike, size: int = 192) -> torch.Tensor:
    return load_image(path, size, what="validation photo").rgb


__all__ = ["DataError", "TrainConfig", "TrainResult", "find_images", "render_preview", "train"]
