"""Fast-network model files and the registry of shipped models.

A model file is safetensors: the :class:`~impasto.fast.network.TransformerNet` weights (fp16 when
shipped) plus one metadata entry ``impasto`` holding JSON: format name and version, network width and
depth, the styles (name, source file, SHA-256 of the source image) and the training settings.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import ImpastoError
from ..output import atomic_write
from .network import TransformerNet

FORMAT = "impasto-fast"
#: Version 2 added the decoder's ``upsample`` mode (:class:`~impasto.fast.network.UpsampleConv`);
#: a model with nearest upsampling is still written as version 1, so older impasto versions read it,
#: and refuse a bilinear one instead of running it with the wrong decoder.
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)
#: Name of the model used when none is given.
DEFAULT_MODEL = "impasto-6"


class ModelError(ImpastoError):
    """A fast-network model file is missing, not a model, or from another version."""


@dataclass(frozen=True)
class ModelInfo:
    """A model :func:`available_models` lists."""

    name: str
    path: Path
    styles: list[str]
    width: int = 0
    description: str = ""
    shipped: bool = True
    metadata: dict = field(default_factory=dict, repr=False, compare=False)


def shipped_dir() -> Path:
    """The package's ``impasto/models`` directory."""
    return Path(__file__).resolve().parents[1] / "models"


def user_dir() -> Path:
    """Extra models: ``$IMPASTO_HOME/models`` (default: the user cache dir's ``models``)."""
    from ..weights import home

    return home() / "models"


def save_model(net: TransformerNet, path: str | os.PathLike, metadata: dict, *, half: bool = True) -> Path:
    """Write ``net`` (fp16 by default) and its metadata atomically to a safetensors file."""
    from safetensors.torch import save

    meta = dict(metadata)
    meta.update(format=FORMAT, width=net.width, blocks=net.blocks, n_styles=net.n_styles)
    if net.upsample == "nearest":
        meta.update(version=1)
        meta.pop("upsample", None)
    else:
        meta.update(version=FORMAT_VERSION, upsample=net.upsample)
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to(dtype).contiguous() for k, v in net.state_dict().items()}
    data = save(tensors, metadata={"impasto": json.dumps(meta)})
    p = Path(path)
    atomic_write(p, lambda fh: fh.write(data))
    return p


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON metadata of a model file; :class:`ModelError` when it is not an impasto fast model."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file '{p}' does not exist", field="model")
    try:
        with safe_open(str(p), framework="pt") as f:
            raw = (f.metadata() or {}).get("impasto")
    except Exception:
        raise ModelError(f"model file '{p}' is not a safetensors model file", field="model") from None
    try:
        meta = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(
            f"model file '{p}' is not an impasto fast-style model (no '{FORMAT}' metadata)", field="model"
        )
    if meta.get("version") not in READ_VERSIONS:
        raise ModelError(
            f"model file '{p}' has format version {meta.get('version')!r}; this impasto reads versions "
            f"{', '.join(map(str, READ_VERSIONS))}",
            field="model",
        )
    return meta


def load_model(path: str | os.PathLike) -> tuple[TransformerNet, dict]:
    """Load a model file as a float32 network in eval mode, plus its metadata."""
    from safetensors.torch import load_file

    p = Path(path)
    meta = read_metadata(p)
    try:
        net = TransformerNet(
            int(meta["n_styles"]),
            int(meta["width"]),
            int(meta.get("blocks", 5)),
            upsample=meta.get("upsample", "nearest"),
        )
        state = {k: v.float() for k, v in load_file(str(p)).items()}
        net.load_state_dict(state, strict=True)
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"model file '{p}' does not match its metadata: {first}", field="model") from None
    net.eval().requires_grad_(False)
    return net, meta


def style_names(meta: dict) -> list[str]:
    return [s.get("name", f"style {i}") for i, s in enumerate(meta.get("styles", []))] or [
        f"style {i}" for i in range(int(meta.get("n_styles", 0)))
    ]


def _info(path: Path, shipped: bool) -> ModelInfo | None:
    try:
        meta = read_metadata(path)
    except ModelError:
        return None
    return ModelInfo(
        name=path.stem,
        path=path,
        styles=style_names(meta),
        width=int(meta.get("width", 0)),
        description=str(meta.get("description", "")),
        shipped=shipped,
        metadata=meta,
    )


def available_models() -> list[ModelInfo]:
    """Shipped models first (the default, then by name), then valid model files in :func:`user_dir`."""
    found: list[ModelInfo] = []
    seen: set[str] = set()
    for directory, shipped in ((shipped_dir(), True), (user_dir(), False)):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.safetensors"), key=lambda p: (p.stem != DEFAULT_MODEL, p.stem)):
            if path.stem in seen:
                continue
            info = _info(path, shipped)
            if info is not None:
                found.append(info)
                seen.add(path.stem)
    return found


def resolve_model(model: str | os.PathLike | None) -> Path:
    """A model name (shipped or in the user dir) or a file path → the file's path."""
    if model is None:
        model = DEFAULT_MODEL
    text = str(model)
    p = Path(text).expanduser()
    if p.suffix == ".safetensors" or os.sep in text or p.exists():
        if not p.is_file():
            raise ModelError(f"model file '{p}' does not exist", field="model")
        return p
    for info in available_models():
        if info.name == text:
            return info.path
    names = ", ".join(i.name for i in available_models()) or "none installed"
    raise ModelError(f"unknown model '{text}' (available: {names})", field="model")
