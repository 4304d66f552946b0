from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from PIL import Image

from impasto.errors import ConfigError
from impasto.fast.models import load_model
from impasto.fast.network import TransformerNet
from impasto.fast.train import DataError, PerceptualLoss, TrainConfig, load_dataset, sample_batch, train

from .conftest import EXAMPLES

STYLES = (str(EXAMPLES / "starry_night.jpg"), str(EXAMPLES / "the_scream.jpg"))
PHOTOS = [EXAMPLES / n for n in ("tubingen.jpg", "golden_gate.jpg", "hoovertowernight.jpg", "brad_pitt.jpg")]


def tiny_config(tmp_path, **kw) -> TrainConfig:
    base = dict(
        styles=STYLES,
        data=(str(tmp_path),),
        output=str(tmp_path / "m.safetensors"),
        width=4,
        blocks=1,
        crop=32,
        batch=2,
        style_size=48,
        steps=3,
        checkpoint_every=2,
        preview_every=1000,
        precision="fp32",
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def photos():
    return load_dataset(PHOTOS, 32)


def test_one_step_lowers_the_loss(tmp_path, photos, vgg_weights):
    config = tiny_config(tmp_path)
    torch.manual_seed(0)
    net = TransformerNet(2, 4, 1)
    loss = PerceptualLoss(config, [__import__("impasto").load_image(s, 48).rgb for s in STYLES])
    x = sample_batch(photos, 2, 32, torch.Generator().manual_seed(1))
    styles = torch.tensor([0, 1])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    before, parts = loss(net, x, styles)
    assert set(parts) == {"content", "style", "tv"}
    before.backward()
    opt.step()
    with torch.no_grad():
        after, _ = loss(net, x, styles)
    assert float(after) < float(before)


def test_resume_continues_the_same_run(tmp_path, photos, vgg_weights):
    straight = train(
        tiny_config(tmp_path / "a", output=str(tmp_path / "a.safetensors"), data=("unused",)),
        data_images=photos,
    )
    assert straight.steps == 3
    # The same run, stopped after 2 steps (as if killed right after a checkpoint), then resumed.
    cfg_b = tiny_config(tmp_path, output=str(tmp_path / "b.safetensors"), data=("unused",))
    first = train(replace(cfg_b, steps=2), data_images=photos)
    assert first.steps == 2 and cfg_b.checkpoint.exists()
    saved = torch.load(cfg_b.checkpoint, weights_only=False)
    assert saved["step"] == 2 and saved["opt"]["state"][0]["step"] == 2
    resumed = train(cfg_b, data_images=photos)
    assert resumed.steps == 3
    net_a, _meta_a = load_model(straight.model)
    net_b, meta_b = load_model(resumed.model)
    for (name, pa), pb in zip(net_a.state_dict().items(), net_b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    opt_a = torch.load(tmp_path / "a.ckpt", weights_only=False)["opt"]["state"]
    opt_b = torch.load(cfg_b.checkpoint, weights_only=False)["opt"]["state"]
    assert opt_a.keys() == opt_b.keys()
    for k in opt_a:
        assert torch.equal(opt_a[k]["exp_avg"], opt_b[k]["exp_avg"])
        assert int(opt_a[k]["step"]) == int(opt_b[k]["step"]) == 3
    assert meta_b["training"]["steps"] == 3
    assert [s["name"] for s in meta_b["styles"]] == ["starry_night", "the_scream"]


def test_resume_refuses_a_different_run(tmp_path, photos, vgg_weights):
    cfg = tiny_config(tmp_path, steps=2, data=("unused",))
    train(cfg, data_images=photos)
    with pytest.raises(Exception, match="different run"):
        train(replace(cfg, width=6, steps=3), data_images=photos)
    # Loss weights and the learning rate may change; the change is applied and recorded.
    messages: list[str] = []
    result = train(replace(cfg, steps=3, lr=5e-3, style_weight=2.0), data_images=photos, warn=messages.append)
    assert result.steps == 3 and any("changed settings" in m for m in messages)
    saved = torch.load(cfg.checkpoint, weights_only=False)
    assert saved["opt"]["param_groups"][0]["lr"] == 5e-3
    _, meta = load_model(cfg.output)
    assert meta["training"]["changes"] == [{"step": 2, "lr": 5e-3, "style_weight": 2.0}]


def test_add_style_trains_only_the_new_normalisation(tmp_path, photos, vgg_weights):
    base = train(tiny_config(tmp_path, steps=1, data=("unused",)), data_images=photos)
    base_net, _ = load_model(base.model)
    cfg = tiny_config(
        tmp_path,
        styles=(str(EXAMPLES / "shipwreck.jpg"),),
        output=str(tmp_path / "plus.safetensors"),
        steps=2,
        add_style_to=str(base.model),
        data=("unused",),
    )
    plus = train(cfg, data_images=photos)
    net, meta = load_model(plus.model)
    assert net.n_styles == 3 and [s["name"] for s in meta["styles"]] == [
        "starry_night",
        "the_scream",
        "shipwreck",
    ]
    old = base_net.state_dict()
    for name, p in net.state_dict().items():
        if name.endswith((".gamma", ".beta")):
            assert torch.equal(p[:2], old[name])
        else:
            assert torch.equal(p, old[name]), name


def test_init_from_fine_tunes_a_model_into_the_bilinear_decoder(tmp_path, photos, vgg_weights):
    """--init-from starts from a model's weights (its width and depth kept) and may change the decoder;
    the model records where it started; a different number of styles is refused."""
    base = train(tiny_config(tmp_path, steps=1, data=("unused",)), data_images=photos)
    base_net, _ = load_model(base.model)
    cfg = tiny_config(
        tmp_path,
        output=str(tmp_path / "ft.safetensors"),
        width=8,  # overridden by the base model's
        steps=1,
        init_from=str(base.model),
        upsample="bilinear",
        data=("unused",),
    )
    result = train(cfg, data_images=photos)
    net, meta = load_model(result.model)
    assert net.upsample == "bilinear" and net.width == 4 and meta["version"] == 2
    assert (
        meta["training"]["init_from"]["file"] == "m.safetensors"
        and meta["training"]["upsample"] == "bilinear"
    )
    assert any(not torch.equal(p, base_net.state_dict()[k]) for k, p in net.state_dict().items())  # trained
    assert all(torch.isfinite(p).all() for p in net.state_dict().values())
    with pytest.raises(ConfigError, match="has 2 styles") as exc:
        train(replace(cfg, styles=STYLES[:1], output=str(tmp_path / "x.safetensors")), data_images=photos)
    assert exc.value.field == "init_from"
    with pytest.raises(ConfigError, match="give one"):
        replace(cfg, add_style_to=str(base.model))


def test_the_shift_loss_sees_a_pattern_locked_to_the_grid_and_nothing_else(tmp_path, vgg_weights):
    """Zero for a translation-equivariant map (a stride-1 blur), large for one that adds a fixed period-4
    pattern (the hatching); a training step with it reports the term."""
    loss = PerceptualLoss(tiny_config(tmp_path, shift_weight=1.0), [torch.rand(1, 3, 48, 48)] * 2)
    x = torch.rand(2, 3, 48, 48)
    onehot = torch.eye(2)
    gen = torch.Generator().manual_seed(0)

    def blur(img, style):
        return torch.nn.functional.avg_pool2d(img, 3, 1, 1)

    stripes = 0.1 * (torch.arange(48) % 4 < 2).float()  # rows of period 4, fixed to the grid

    def hatch(img, style):
        return img + stripes[: img.shape[-2], None]

    assert float(loss.shift_loss(blur, x, blur(x, onehot), onehot, gen)) < 1e-12
    assert float(loss.shift_loss(hatch, x, hatch(x, onehot), onehot, gen)) > 1e-3
    net = TransformerNet(2, 4, 1)
    total, parts = loss(net, x, torch.tensor([0, 1]), gen)
    assert float(parts["shift"].detach()) > 0 and torch.isfinite(total.detach())


def _write_photos(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (48, 40), (40 * i % 255, 90, 200)).save(folder / f"p{i}.png")


def test_few_images_warns_and_empty_folder_fails(tmp_path, vgg_weights):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no training images"):
        train(tiny_config(tmp_path, data=(str(empty),)))
    _write_photos(tmp_path / "few", 2)
    messages: list[str] = []
    result = train(tiny_config(tmp_path, data=(str(tmp_path / "few"),), steps=1), warn=messages.append)
    assert result.steps == 1
    assert any("only 2 training images" in m for m in messages)


def test_config_validation():
    with pytest.raises(ConfigError) as err:
        TrainConfig(styles=STYLES, data=("x",), crop=30)
    assert err.value.field == "crop"
    with pytest.raises(ConfigError) as err:
        TrainConfig(styles=(), data=("x",))
    assert err.value.field == "styles"


@pytest.mark.parametrize("stability", [0.0, 1.0])
def test_bf16_training_loss_agrees_with_fp32(tmp_path, photos, vgg_weights, stability):
    """``precision`` reaches training (autocast and VGG-19): the bf16 loss of the same network on the
    same batch differs from the fp32 one (it ran in bfloat16) by well under a percent or so."""
    styles_pics = [__import__("impasto").load_image(s, 48).rgb for s in STYLES]
    x = sample_batch(photos, 2, 32, torch.Generator().manual_seed(1))
    styles = torch.tensor([0, 1])
    torch.manual_seed(0)
    net = TransformerNet(2, 4, 1)
    values = {}
    for precision in ("fp32", "bf16"):
        config = tiny_config(tmp_path, precision=precision, stability_weight=stability)
        loss = PerceptualLoss(config, styles_pics)
        with torch.no_grad():
            total, parts = loss(net, x, styles, torch.Generator().manual_seed(2))
        values[precision] = {k: float(v) for k, v in parts.items()} | {"total": float(total)}
    assert values["fp32"] != values["bf16"]
    for k, ref in values["fp32"].items():
        assert abs(values["bf16"][k] - ref) <= 0.05 * abs(ref) + 1e-6, (k, values)
