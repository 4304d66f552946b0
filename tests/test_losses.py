"""Loss functions: properties rather than golden numbers."""

from __future__ import annotations

import torch

from impasto import losses
from impasto.vgg import VGG19


def test_gram_normalised_by_layer_size():
    f = torch.ones(1, 4, 3, 5)
    g = losses.gram(f)
    assert g.shape == (1, 4, 4)
    assert torch.allclose(g, torch.full((1, 4, 4), 1 / 4))  # (H·W) / (C·H·W)
    x = torch.rand(2, 6, 7, 7)
    g = losses.gram(x)
    assert torch.allclose(g, g.transpose(1, 2))


def test_gram_with_full_mask_equals_unmasked():
    x = torch.rand(1, 8, 6, 6)
    assert torch.allclose(losses.gram(x, torch.ones(1, 1, 6, 6)), losses.gram(x), atol=1e-6)


def test_style_and_content_losses_zero_for_identical_images(vgg_weights, tiny_content, tiny_style):
    vgg = VGG19(vgg_weights, last_layer="relu5_1")
    layers = ["relu1_1", "relu3_1", "relu4_2", "relu5_1"]
    with torch.no_grad():
        a = vgg(tiny_content, layers)
        b = vgg(tiny_content.clone(), layers)
        s = vgg(tiny_style, layers)
    for k in layers:
        assert float(losses.style_loss(a[k], losses.gram(b[k]))) == 0.0
        assert float(losses.content_loss(a[k], b[k])) == 0.0
    assert float(losses.style_loss(a["relu3_1"], losses.gram(s["relu3_1"]))) > 0


def test_gram_is_translation_invariant_content_is_not(vgg_weights, tiny_style):
    """Style (Gram) statistics ignore where things are; content features do not."""
    vgg = VGG19(vgg_weights, last_layer="relu2_1")
    flipped = torch.flip(tiny_style, dims=[-1])
    with torch.no_grad():
        a = vgg(tiny_style, ["relu2_1"])["relu2_1"]
        b = vgg(flipped, ["relu2_1"])["relu2_1"]
    g_rel = float(losses.style_loss(a, losses.gram(b))) / float(losses.gram(a).pow(2).mean())
    c_rel = float(losses.content_loss(a, b)) / float(a.pow(2).mean())
    assert g_rel < 0.05 < c_rel


def test_total_variation():
    assert float(losses.total_variation(torch.full((1, 3, 8, 8), 0.3))) == 0.0
    noisy = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    smooth = torch.linspace(0, 1, 8).view(1, 1, 1, 8).expand(1, 3, 8, 8)
    assert float(losses.total_variation(noisy)) > float(losses.total_variation(smooth)) > 0
