"""The fast paths: bf16 / channels-last network, one-product Gram backward, no wasted work."""

from __future__ import annotations

import torch

from impasto import losses
from impasto.optimize import LBFGS_HISTORY_BYTES, LBFGS_MIN_HISTORY, lbfgs_history
from impasto.stylize import StylizeConfig, style_targets
from impasto.vgg import VGG19

LAYERS = ["conv1_1", "relu1_1", "relu2_1", "relu3_1"]


def test_bf16_channels_last_features_match_fp32(vgg_weights, tiny_content):
    ref = VGG19(vgg_weights, last_layer="relu3_1")
    fast = VGG19(vgg_weights, last_layer="relu3_1", dtype=torch.bfloat16, channels_last=True)
    assert fast.dtype == torch.bfloat16 and ref.dtype == torch.float32
    w = fast.convs["conv2_1"].weight
    assert w.dtype == torch.bfloat16 and w.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        a, b = ref(tiny_content, LAYERS), fast(tiny_content, LAYERS)
    assert list(a) == list(b) == LAYERS
    for k in LAYERS:
        assert b[k].dtype == torch.bfloat16 and b[k].shape == a[k].shape
        rel = float((b[k].float() - a[k]).norm() / a[k].norm())
        assert rel < 0.02, (k, rel)
        ga, gb = losses.gram(a[k]), losses.gram(b[k])
        assert gb.dtype == torch.float32 and float((ga - gb).norm() / ga.norm()) < 0.02
    # in-place ReLU must not overwrite a requested pre-ReLU output
    assert float(b["conv1_1"].min()) < 0 and float(b["relu1_1"].min()) >= 0


def test_set_compute_round_trip(vgg_weights, tiny_content):
    vgg = VGG19(vgg_weights, last_layer="relu2_1")
    with torch.no_grad():
        before = vgg(tiny_content, ["relu2_1"])["relu2_1"]
        vgg.set_compute(torch.bfloat16, channels_last=True)
        vgg.set_compute(torch.float32, channels_last=False)
        after = vgg(tiny_content, ["relu2_1"])["relu2_1"]
    # bf16 weights were rounded, so the fp32 network is close but the dtype is float32 again
    assert after.dtype == torch.float32 and float((after - before).norm() / before.norm()) < 0.01


def test_gram_gradient_is_exact_in_both_layouts():
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    for layout in (torch.contiguous_format, torch.channels_last):
        xi = x.contiguous(memory_format=layout).requires_grad_(True)
        assert torch.autograd.gradcheck(losses.gram, (xi,), fast_mode=True)
        mask = torch.rand(1, 1, 4, 5, dtype=torch.float64)
        assert torch.autograd.gradcheck(lambda f, m=mask: losses.gram(f, m), (xi,), fast_mode=True)
    cl = x.float().contiguous(memory_format=torch.channels_last)
    assert torch.allclose(losses.gram(cl), losses.gram(x.float()), atol=1e-6)


def test_gradients_reach_only_the_image_in_bf16(vgg_weights):
    vgg = VGG19(vgg_weights, last_layer="relu2_1", dtype=torch.bfloat16, channels_last=True)
    x = torch.rand(1, 3, 24, 24, requires_grad=True)
    losses.gram(vgg(x, ["relu2_1"])["relu2_1"]).sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.float32 and float(x.grad.abs().sum()) > 0
    assert all(p.grad is None and not p.requires_grad for p in vgg.parameters())


def test_targets_carry_no_autograd_graph(vgg_weights, tiny_style):
    vgg = VGG19(vgg_weights, last_layer="relu5_1", dtype=torch.bfloat16, channels_last=True)
    (target,) = style_targets(vgg, [tiny_style], None, StylizeConfig())
    for g in target.grams.values():
        assert g.dtype == torch.float32 and not g.requires_grad and g.grad_fn is None


def test_lbfgs_history_memory_is_capped():
    small = lbfgs_history(3 * 64 * 64)
    assert small == 100
    mid = 3 * 1024 * 768
    assert 5 <= lbfgs_history(mid) < 100 and lbfgs_history(mid) * 2 * 4 * mid <= LBFGS_HISTORY_BYTES
    assert lbfgs_history(3 * 2048 * 2048) == LBFGS_MIN_HISTORY  # the floor: L-BFGS needs a few pairs
