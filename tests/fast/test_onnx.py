from __future__ import annotations

import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from impasto.fast import load
from impasto.fast.onnx import run_onnx


def test_onnx_runtime_matches_pytorch(tmp_path, tiny_model, run_cli):
    out = tmp_path / "m.onnx"
    code, _, err = run_cli("export-onnx", "--model", tiny_model, "-o", out)
    assert code == 0, err
    assert "ONNX Runtime matches PyTorch" in err
    net = load(str(tiny_model)).net
    for shape, style in (
        ((1, 3, 36, 52), torch.tensor([0.0, 1.0, 0.0])),
        ((2, 3, 33, 47), torch.tensor([0.3, 0.0, 0.7])),
    ):
        x = torch.rand(*shape)
        with torch.no_grad():
            expected = net(x, style)
        got = run_onnx(out, x, style)
        assert got.shape == expected.shape
        assert float((got - expected).abs().max()) < 1e-4
