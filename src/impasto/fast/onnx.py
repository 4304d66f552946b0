"""Export a fast network to ONNX (optional extra ``onnx``: onnx + onnxruntime).

The exported graph takes ``image`` (N, 3, H, W) float32 in [0, 1] (H and W dynamic) and ``style``
(N, n_styles) float32 style weights — one-hot for one style, any convex combination for a blend — and
returns ``stylized`` (N, 3, H, W) in [0, 1]. H and W must be multiples of 4 (:func:`run_onnx` pads by
reflection and crops back, as :class:`~impasto.fast.network.TransformerNet` does in PyTorch).
Strength is left to the caller (a pixel blend).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import torch

from ..errors import ImpastoError
from ..output import atomic_write
from .infer import load

OPSET = 17


class _Core(torch.nn.Module):
    def __init__(self, net) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.net.core(image, style)


class ExportError(ImpastoError):
    """The ONNX export cannot run (missing extra) or failed."""


def export_onnx(model: str | os.PathLike | None, output: str | os.PathLike, *, opset: int = OPSET) -> Path:
    """Write ``model`` (name or path; None = shipped default) as an ONNX file; returns its path."""
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the 'onnx' extra: pip install 'impasto[onnx]'") from None
    loaded = load(model)
    net = loaded.net.float().eval()
    n = net.n_styles
    x = torch.rand(1, 3, 64, 64)
    w = torch.zeros(1, n)
    w[0, 0] = 1
    buf = io.BytesIO()
    try:
        torch.onnx.export(
            _Core(net),
            (x, w),
            buf,  # type: ignore[arg-type]  # a file object works; torch's stubs say path only
            input_names=["image", "style"],
            output_names=["stylized"],
            opset_version=opset,
            dynamic_axes={
                "image": {0: "batch", 2: "height", 3: "width"},
                "style": {0: "batch"},
                "stylized": {0: "batch", 2: "height", 3: "width"},
            },
            dynamo=False,
        )
    except Exception as exc:
        raise ExportError(f"ONNX export failed: {str(exc).strip().splitlines()[0]}") from None
    proto = onnx.load_from_string(buf.getvalue())
    for key, value in (("impasto", json.dumps(loaded.meta)), ("styles", json.dumps(loaded.styles))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    out = Path(output)
    atomic_write(out, lambda fh: fh.write(proto.SerializeToString()))
    return out


def run_onnx(path: str | os.PathLike, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Run an exported model with ONNX Runtime (CPU); ``style`` is (n_styles,) or (N, n_styles)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError("running ONNX models needs the 'onnx' extra: pip install 'impasto[onnx]'") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    w = style if style.dim() == 2 else style.unsqueeze(0).expand(image.shape[0], -1)
    h, wd = image.shape[-2:]
    ph, pw = (-h) % 4, (-wd) % 4
    x = image.float()
    if ph or pw:
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect" if h > ph and wd > pw else "replicate")
    (out,) = session.run(None, {"image": x.contiguous().numpy(), "style": w.float().contiguous().numpy()})
    return torch.from_numpy(out)[:, :, :h, :wd]


def verify(
    model: str | os.PathLike | None, path: str | os.PathLike, *, size: tuple[int, int] = (70, 90)
) -> float:
    """Max absolute difference between ONNX Runtime and PyTorch on a random image and a style blend;
    raises :class:`ExportError` above 1e-3."""
    loaded = load(model)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, *size, generator=gen)
    w = torch.rand(loaded.net.n_styles, generator=gen)
    w = w / w.sum()
    with torch.no_grad():
        expected = loaded.net(x, w)
    diff = float((run_onnx(path, x, w) - expected).abs().max())
    if not diff <= 1e-3:
        raise ExportError(f"ONNX Runtime output differs from PyTorch by {diff:.3g}")
    return diff
