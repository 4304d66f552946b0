"""The VGG-19 feature extractor: names, truncation, freezing, pooling, errors."""

from __future__ import annotations

import pytest
import torch

from impasto.errors import ConfigError
from impasto.vgg import CHANNELS, LAYERS, VGG19, check_layers


def test_layer_names():
    assert len(LAYERS) == 16 + 16 + 5
    assert LAYERS[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert LAYERS[-1] == "pool5" and "relu5_4" in LAYERS and "conv3_4" in LAYERS
    assert CHANNELS["relu1_1"] == 64 and CHANNELS["relu4_2"] == 512 and CHANNELS["pool3"] == 256


def test_returns_requested_layers_with_expected_shapes(vgg_weights):
    vgg = VGG19(vgg_weights, last_layer="relu5_1")
    x = torch.rand(2, 3, 64, 48)
    with torch.no_grad():
        out = vgg(x, ["relu1_1", "conv2_2", "pool3", "relu4_2", "relu5_1"])
    assert list(out) == ["relu1_1", "conv2_2", "pool3", "relu4_2", "relu5_1"]
    assert out["relu1_1"].shape == (2, 64, 64, 48)
    assert out["conv2_2"].shape == (2, 128, 32, 24)
    assert out["pool3"].shape == (2, 256, 8, 6)
    assert out["relu4_2"].shape == (2, 512, 8, 6)
    assert out["relu5_1"].shape == (2, 512, 4, 3)
    assert float(out["relu1_1"].min()) >= 0 and float(out["conv2_2"].min()) < 0  # conv is pre-ReLU


def test_truncated_after_deepest_layer(vgg_weights):
    vgg = VGG19(vgg_weights, last_layer="relu3_1")
    assert list(vgg.convs) == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"]
    with pytest.raises(ConfigError, match="deeper"):
        vgg(torch.rand(1, 3, 16, 16), ["relu4_1"])


def test_frozen_and_gradients_reach_only_the_image(vgg_weights):
    vgg = VGG19(vgg_weights, last_layer="relu2_1")
    assert all(not p.requires_grad for p in vgg.parameters())
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    vgg(x, ["relu2_1"])["relu2_1"].sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(p.grad is None for p in vgg.parameters())


def test_average_pooling_differs(vgg_weights, tiny_content):
    with torch.no_grad():
        a = VGG19(vgg_weights, pool="max", last_layer="relu2_1")(tiny_content, ["relu2_1"])["relu2_1"]
        b = VGG19(vgg_weights, pool="avg", last_layer="relu2_1")(tiny_content, ["relu2_1"])["relu2_1"]
    assert a.shape == b.shape and not torch.allclose(a, b)


def test_unknown_layer_names_suggest_and_list():
    with pytest.raises(ConfigError) as info:
        check_layers(["relu4_2", "relu42"])
    message = str(info.value)
    assert "relu42" in message and "did you mean 'relu4_2'" in message and "conv1_1" in message
    with pytest.raises(ConfigError):
        check_layers(["block1_conv1"])
