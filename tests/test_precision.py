"""Mixed precision: device-aware choice, bf16 network with fp32 losses, L-BFGS parity, escalation."""

from __future__ import annotations

import math

import pytest
import torch

from impasto import losses, precision
from impasto.errors import ConfigError
from impasto.optimize import optimize
from impasto.stylize import StylizeConfig
from impasto.vgg import VGG19

STYLE = ("relu1_1", "relu2_1", "relu3_1")
CONTENT = ("relu2_2",)


def test_auto_follows_cpu_capability(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_is_fast", lambda: True)
    assert precision.resolve("auto", "cpu") == torch.bfloat16
    monkeypatch.setattr(precision, "cpu_bf16_is_fast", lambda: False)
    assert precision.resolve("auto", "cpu") == torch.float32
    assert precision.resolve("bf16", "cpu") == torch.bfloat16  # explicit choice wins
    assert precision.resolve("fp32", "cpu") == torch.float32


def test_auto_on_cuda_needs_ampere(monkeypatch):
    # The CUDA branch, exercised without a GPU: bf16 only from compute capability 8.0 on.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert precision.resolve("auto", "cuda") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    assert precision.resolve("auto", "cuda") == torch.float32
    assert precision.resolve("auto", "mps") == torch.float32
    assert precision.use_channels_last("cuda") and not precision.use_channels_last("mps")


def test_bad_precision_is_a_config_error(run_cli, content_path, style_path, tmp_path):
    with pytest.raises(ConfigError, match="precision"):
        precision.resolve("fp16", "cpu")
    with pytest.raises(ConfigError, match="precision"):
        StylizeConfig(precision="half")
    code, _, err = run_cli(
        "stylize", content_path, style_path, "-o", tmp_path / "o.png", "--precision", "half"
    )
    assert code == 2 and "precision" in err and not (tmp_path / "o.png").exists()


def test_default_threads_respects_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert precision.default_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert 1 <= precision.default_threads() <= torch.get_num_threads()


def _loss(vgg, content, style):
    with torch.no_grad():
        ct = vgg(content, CONTENT)
        st = {k: losses.gram(v) for k, v in vgg(style, STYLE).items()}

    def loss_fn(x):
        f = vgg(x, CONTENT + STYLE)
        c = sum(losses.content_loss(f[k], t) for k, t in ct.items())
        s = sum(losses.style_loss(f[k], g) for k, g in st.items())
        parts = {"content": 5.0 * c, "style": 100.0 * s}
        return parts["content"] + parts["style"], parts

    return loss_fn


def test_bf16_lbfgs_matches_fp32_quality(vgg_weights, tiny_content, tiny_style):
    """At equal iterations, the fp32-evaluated final loss of a bf16 run is at most 3 % above an fp32
    run's (lower is fine: it is the same fp32 loss, better minimised), each term within 5 %, with
    L-BFGS and its strong-Wolfe line search, and never non-finite. (The two runs take different paths:
    on an AMX host bf16 ended with 3.3 % less style loss and the same content loss.)"""
    content = tiny_content[..., :32, :32]
    style = tiny_style[..., :32, :32]
    ref = VGG19(vgg_weights, last_layer="relu3_1")
    fast = VGG19(vgg_weights, last_layer="relu3_1")
    escalate = precision.apply(fast, "bf16", "cpu")
    assert fast.dtype == torch.bfloat16 and escalate is not None
    escalations = []

    def watch(reason):
        escalations.append(reason)
        return escalate(reason)

    score = _loss(ref, content, style)
    iters = 30
    runs = {}
    for name, vgg, hook in (("fp32", ref, None), ("bf16", fast, watch)):
        res = optimize(content, _loss(vgg, content, style), iters=iters, clamp=False, escalate=hook)
        assert res.stop_reason == "" and res.steps == iters
        assert all(math.isfinite(h["total"]) for h in res.history)
        with torch.no_grad():
            runs[name] = score(res.image)
    for key in ("style", "content"):
        a, b = float(runs["bf16"][1][key]), float(runs["fp32"][1][key])
        assert math.isfinite(a) and abs(a / b - 1) < 0.05, (key, a, b)
    a, b = float(runs["bf16"][0]), float(runs["fp32"][0])
    assert a / b - 1 < 0.03, (a, b)
    assert fast.dtype == torch.bfloat16 and not escalations  # it got there in bf16


def test_non_finite_bf16_loss_escalates_to_fp32(vgg_weights):
    vgg = VGG19(vgg_weights, last_layer="relu1_1")
    escalate = precision.apply(vgg, "bf16", "cpu")
    target = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        t = vgg(target, ["relu1_1"])["relu1_1"].float()
    calls = {"n": 0}

    def loss_fn(x):
        calls["n"] += 1
        d = losses.content_loss(vgg(x, ["relu1_1"])["relu1_1"], t)
        if vgg.dtype == torch.bfloat16 and calls["n"] > 3:
            d = d * float("nan")  # what a diverging bf16 run looks like
        return d, {"d": d}

    res = optimize(torch.zeros(1, 3, 16, 16), loss_fn, iters=12, escalate=escalate)
    assert vgg.dtype == torch.float32  # escalated once
    assert res.stop_reason == "" and res.steps == 12
    assert all(math.isfinite(h["total"]) for h in res.history)
    assert torch.isfinite(res.image).all()
    with torch.no_grad():
        assert float(loss_fn(res.image)[0]) < float(loss_fn(torch.zeros(1, 3, 16, 16))[0])
