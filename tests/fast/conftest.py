"""Fixtures for the fast-network tests: tiny networks and model files made on the fly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from impasto.fast.models import save_model
from impasto.fast.network import TransformerNet

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def tiny_net() -> TransformerNet:
    torch.manual_seed(0)
    net = TransformerNet(n_styles=3, width=4, blocks=1)
    with torch.no_grad():  # distinct styles, so blends and selections are observable
        for norm in net.norms():
            norm.gamma.copy_(1 + 0.5 * torch.randn_like(norm.gamma))
            norm.beta.copy_(0.5 * torch.randn_like(norm.beta))
    return net.eval().requires_grad_(False)


@pytest.fixture
def tiny_model(tmp_path, tiny_net) -> Path:
    meta = {"styles": [{"name": n} for n in ("alpha", "beta", "gamma")], "description": "test"}
    return save_model(tiny_net, tmp_path / "tiny.safetensors", meta, half=False)
