from __future__ import annotations

import pytest
import torch

from impasto.fast.network import TransformerNet, one_hot


def test_output_shape_matches_any_input_size_and_range(tiny_net):
    for h, w in ((32, 32), (37, 50), (64, 30)):
        x = torch.rand(2, 3, h, w)
        y = tiny_net(x, one_hot(1, 3))
        assert y.shape == (2, 3, h, w)
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_deterministic(tiny_net):
    x = torch.rand(1, 3, 40, 40)
    a = tiny_net(x, one_hot(0, 3))
    b = tiny_net(x.clone(), one_hot(0, 3))
    assert torch.equal(a, b)


def test_styles_differ(tiny_net):
    x = torch.rand(1, 3, 32, 32)
    assert not torch.allclose(tiny_net(x, one_hot(0, 3)), tiny_net(x, one_hot(2, 3)), atol=1e-4)


def test_blend_weight_one_equals_single_style(tiny_net):
    x = torch.rand(1, 3, 36, 36)
    blend = torch.tensor([0.0, 1.0, 0.0])
    assert torch.allclose(tiny_net(x, blend), tiny_net(x, one_hot(1, 3)))


def test_blend_interpolates_normalisation_parameters(tiny_net):
    w = torch.tensor([[0.25, 0.0, 0.75]])
    norm = tiny_net.norm1
    x = torch.randn(1, norm.gamma.shape[1], 8, 8)
    mixed = norm(x, w)
    gamma = 0.25 * norm.gamma[0] + 0.75 * norm.gamma[2]
    beta = 0.25 * norm.beta[0] + 0.75 * norm.beta[2]
    xn = torch.nn.functional.instance_norm(x)
    assert torch.allclose(mixed, xn * gamma[None, :, None, None] + beta[None, :, None, None], atol=1e-5)


def test_per_image_styles_in_one_batch(tiny_net):
    x = torch.rand(1, 3, 32, 32).expand(2, -1, -1, -1)
    both = tiny_net(x, torch.stack([one_hot(0, 3), one_hot(2, 3)]))
    assert torch.allclose(both[0], tiny_net(x[:1], one_hot(0, 3))[0], atol=1e-5)
    assert torch.allclose(both[1], tiny_net(x[:1], one_hot(2, 3))[0], atol=1e-5)


def test_width_controls_parameter_count():
    small, large = TransformerNet(2, 8), TransformerNet(2, 16)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert 3.5 < count(large) / count(small) < 4.1  # convolutions dominate: params ~ width²


def _instance_norm_reference(net: TransformerNet):
    """The textbook CIN forward (instance_norm, then per-image γ, β), to check the fast kernel against."""
    import torch.nn.functional as F

    def forward(self, x, style):
        w = style.to(self.gamma.dtype)
        return (
            F.instance_norm(x, eps=self.eps) * (w @ self.gamma)[:, :, None, None]
            + (w @ self.beta)[:, :, None, None]
        )

    return forward


def test_group_norm_kernel_equals_instance_norm(tiny_net, monkeypatch):
    from impasto.fast.network import ConditionalInstanceNorm

    x = torch.rand(2, 3, 36, 44)
    styles = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.0, 0.8]])  # a different style per image
    fast_single, fast_batch = tiny_net(x[:1], styles[0]), tiny_net(x, styles)
    monkeypatch.setattr(ConditionalInstanceNorm, "forward", _instance_norm_reference(tiny_net))
    assert torch.allclose(fast_single, tiny_net(x[:1], styles[0]), atol=1e-5)
    assert torch.allclose(fast_batch, tiny_net(x, styles), atol=1e-5)
    assert not torch.allclose(fast_batch[0], fast_batch[1], atol=1e-2)


def test_space_to_depth_conv_is_the_same_convolution():
    from impasto.fast.network import ConvLayer, SpaceToDepthConv

    torch.manual_seed(1)
    for cin, cout, k in ((16, 3, 9), (4, 6, 3)):
        layer = ConvLayer(cin, cout, k).double()
        fast = SpaceToDepthConv(layer)
        for h, w in ((32, 40), (33, 27)):
            x = torch.randn(1, cin, h, w, dtype=torch.float64)
            assert torch.allclose(fast(x), layer(x), atol=1e-10)


def test_sub_pixel_upsample_conv_is_the_same_layer():
    from impasto.fast.network import SubPixelUpsampleConv, UpsampleConv

    torch.manual_seed(2)
    layer = UpsampleConv(5, 7, 3).double()
    fast = SubPixelUpsampleConv(layer)
    for h, w in ((8, 12), (5, 9), (1, 3)):  # (1, 3): the reflection of a 2-row upsampled image
        x = torch.randn(2, 5, h, w, dtype=torch.float64)
        assert torch.allclose(fast(x), layer(x), atol=1e-10)


def test_sub_pixel_fold_of_bilinear_upsampling_is_the_same_layer():
    """The bilinear decoder (the hatching fix) folds exactly too, borders included."""
    from impasto.fast.network import SubPixelUpsampleConv, UpsampleConv

    torch.manual_seed(4)
    layer = UpsampleConv(5, 7, 3, mode="bilinear").double()
    fast = SubPixelUpsampleConv(layer)
    for h, w in ((8, 12), (5, 9), (1, 3)):
        x = torch.randn(2, 5, h, w, dtype=torch.float64)
        assert torch.allclose(fast(x), layer(x), atol=1e-10)
    nearest = UpsampleConv(5, 7, 3)
    nearest.load_state_dict(layer.state_dict())  # the mode has no weights: the same file loads either way
    x = torch.randn(1, 5, 8, 8, dtype=torch.float64)
    assert (nearest.double()(x) - layer(x)).abs().max() > 1e-3
    with pytest.raises(ValueError, match="nearest, bilinear"):
        UpsampleConv(5, 7, 3, mode="bicubic")  # type: ignore[arg-type]


def test_bilinear_upsampling_leaves_no_block_pattern_on_a_smooth_input():
    """Nearest ×2 upsampling turns a smooth map into flat 2×2 blocks, whose steps put energy near the
    upsampled grid's period-2 frequencies (two stages of it: the stride-4 hatching); bilinear does not."""
    from impasto.fast.network import UpsampleConv

    torch.manual_seed(5)
    x = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 40, 40, dtype=torch.float64), 9, 1)  # smooth, 32×32

    def share_near_period_2(layer: UpsampleConv) -> float:
        with torch.no_grad():
            layer = layer.double()
            layer.conv.conv.weight.zero_()
            layer.conv.conv.weight[:, :, 1, 1] = 1.0  # the centre tap only: the upsampling alone
            layer.conv.conv.bias.zero_()
            y = layer(x)[0, 0]  # 64×64
        power = torch.fft.fft2(y - y.mean()).abs() ** 2
        near = torch.fft.fftfreq(64).abs() * 64 >= 32 - 8  # within 8 bins of ½ cycle/px on an axis
        return float(power[near[:, None] | near[None, :]].sum() / power.sum())

    nearest, bilinear = (
        share_near_period_2(UpsampleConv(1, 1, 3)),
        share_near_period_2(UpsampleConv(1, 1, 3, mode="bilinear")),
    )
    assert bilinear < 0.3 * nearest, (nearest, bilinear)  # measured: 0.0046 vs 0.0198


def test_for_inference_gives_the_same_network_output_in_channels_last_memory():
    from impasto.fast.network import TransformerNet, _pixel_unshuffle, for_inference

    torch.manual_seed(3)
    for upsample in ("nearest", "bilinear"):
        net = TransformerNet(n_styles=2, width=4, blocks=1, upsample=upsample).double()
        for norm in net.norms():  # untrained γ = 1, β = 0 would hide a style mix-up
            torch.nn.init.normal_(norm.gamma, 1.0, 0.3)
            torch.nn.init.normal_(norm.beta, 0.0, 0.3)
        fast = for_inference(net).to(memory_format=torch.channels_last)
        assert net.training and any(p.requires_grad for p in net.parameters())  # the original is untouched
        style = torch.tensor([0.3, 0.7], dtype=torch.float64)
        for h, w in ((32, 44), (30, 27)):
            x = torch.rand(1, 3, h, w, dtype=torch.float64)
            with torch.no_grad():
                want = net.eval()(x, style)
                got = fast(x.contiguous(memory_format=torch.channels_last), style)
            assert got.shape == want.shape
            assert torch.allclose(got, want, atol=1e-9), upsample
    y = torch.randn(1, 6, 10, 14).contiguous(memory_format=torch.channels_last)
    assert torch.equal(_pixel_unshuffle(y, 2), torch.nn.functional.pixel_unshuffle(y.contiguous(), 2))
