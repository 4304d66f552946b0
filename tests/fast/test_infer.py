from __future__ import annotations

import pytest
import torch

from impasto.errors import ConfigError
from impasto.fast import FastConfig, available_models, stylize_fast
from impasto.fast.infer import parse_style, style_vector
from impasto.fast.models import ModelError, load_model, read_metadata, save_model

from .conftest import EXAMPLES


def test_model_file_round_trip_fp16(tmp_path, tiny_net):
    path = save_model(tiny_net, tmp_path / "m.safetensors", {"styles": [{"name": "a"}] * 3})
    net, meta = load_model(path)
    assert meta["width"] == 4 and meta["n_styles"] == 3 and meta["format"] == "impasto-fast"
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert (net(x, torch.tensor([1.0, 0, 0])) - tiny_net(x, torch.tensor([1.0, 0, 0]))).abs().max() < 0.02


def test_the_decoder_mode_is_recorded_and_old_files_still_load(tmp_path, tiny_net):
    """A nearest-upsampling model is written as format version 1 (what older impasto versions read) and
    loads as nearest; a bilinear one is version 2 with its mode in the metadata, and loads as bilinear."""
    from impasto.fast.network import TransformerNet

    old = save_model(tiny_net, tmp_path / "old.safetensors", {"styles": []})
    assert read_metadata(old)["version"] == 1 and "upsample" not in read_metadata(old)
    assert load_model(old)[0].upsample == "nearest"
    net = TransformerNet(3, 4, 1, upsample="bilinear")
    net.load_state_dict(tiny_net.state_dict())
    new = save_model(net, tmp_path / "new.safetensors", {"styles": []})
    meta = read_metadata(new)
    assert meta["version"] == 2 and meta["upsample"] == "bilinear"
    loaded, _ = load_model(new)
    x = torch.rand(1, 3, 24, 20)
    with torch.no_grad():
        assert loaded.upsample == "bilinear"
        assert (loaded(x, torch.tensor([1.0, 0, 0])) - net(x, torch.tensor([1.0, 0, 0]))).abs().max() < 0.02
    shipped = {m.name: m for m in available_models()}
    for name in ("impasto-6", "impasto-6-stable"):
        assert load_model(shipped[name].path)[0].upsample == shipped[name].metadata.get("upsample", "nearest")


def test_strength_zero_returns_the_content(tiny_model):
    x = torch.rand(1, 3, 40, 48)
    out = stylize_fast(x, model=str(tiny_model), strength=0.0)
    assert torch.allclose(out, x, atol=1e-6)
    half = stylize_fast(x, model=str(tiny_model), strength=0.5)
    full = stylize_fast(x, model=str(tiny_model), strength=1.0)
    assert torch.allclose(half, (x + full) / 2, atol=1e-5)


def test_blend_weight_one_zero_equals_single_style(tiny_model):
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(
        stylize_fast(x, model=str(tiny_model), style="0:0,2:1"),
        stylize_fast(x, model=str(tiny_model), style="2"),
    )
    assert torch.equal(
        stylize_fast(x, model=str(tiny_model), style="gamma"),
        stylize_fast(x, model=str(tiny_model), style="2"),
    )


def test_style_specs():
    assert parse_style("3") == [("3", 1.0)]
    assert parse_style("0:0.5, 3:0.5") == [("0", 0.5), ("3", 0.5)]
    assert torch.allclose(style_vector("0:1,2:3", ["a", "b", "c"]), torch.tensor([0.25, 0.0, 0.75]))
    for bad in ("0:x", "0:0.5,,1:0.5", ":0.5", "0:-1", "0:0,1:0"):
        with pytest.raises(ConfigError) as err:
            FastConfig(style=bad)
        assert err.value.field == "style"
    with pytest.raises(ConfigError, match="out of range"):
        style_vector("3", ["a", "b", "c"])


def test_config_validation():
    for field, value in (
        ("strength", 1.5),
        ("strength", -0.1),
        ("size", 8),
        ("device", "gpu"),
        ("model", ""),
    ):
        with pytest.raises(ConfigError) as err:
            FastConfig(**{field: value})
        assert err.value.field == field


def test_not_a_model_and_other_versions(tmp_path, tiny_net):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a safetensors"):
        read_metadata(junk)
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelError, match="not an impasto fast-style model"):
        read_metadata(tmp_path / "other.safetensors")
    import json

    from safetensors.torch import save

    meta = {"format": "impasto-fast", "version": 99}
    (tmp_path / "future.safetensors").write_bytes(
        save({"x": torch.zeros(1)}, metadata={"impasto": json.dumps(meta)})
    )
    with pytest.raises(ModelError, match="version 99"):
        read_metadata(tmp_path / "future.safetensors")


def test_shipped_model_works_out_of_the_box():
    models = available_models()
    assert models and models[0].name == "impasto-6" and len(models[0].styles) >= 6
    assert models[0].path.stat().st_size < 5_000_000
    out = stylize_fast(str(EXAMPLES / "tubingen.jpg"), size=64, style="1")
    assert out.shape == (1, 3, 48, 64) and 0 <= float(out.min()) and float(out.max()) <= 1


def test_bf16_inference_matches_fp32_and_leaves_the_shared_model_alone():
    from impasto.fast.infer import load

    photo = str(EXAMPLES / "tubingen.jpg")
    fp32 = stylize_fast(photo, size=96, style="0", precision="fp32")
    bf16 = stylize_fast(photo, size=96, style="0", precision="bf16")
    diff = (fp32 - bf16).abs()
    assert bf16.dtype == torch.float32 and bf16.shape == fp32.shape
    assert float(diff.mean()) < 2 / 255  # measured 0.5/255 (max 11/255) at 1024x768
    assert float(diff.mean()) > 0  # it really ran in bfloat16
    assert next(load(None).net.parameters()).dtype == torch.float32
    with pytest.raises(ConfigError, match="precision"):
        FastConfig(precision="fp8")


# --------------------------------------------------------------------------- portraits (--faces)


def test_faces_lower_the_strength_on_the_face_only(tiny_model):
    from impasto import faces
    from impasto.images import load_image

    x = load_image(EXAMPLES / "brad_pitt.jpg", 96).rgb
    (face,) = faces.detect(x)
    x0, y0, x1, y1 = (round(v) for v in (face.x, face.y, face.x + face.w, face.y + face.h))
    auto = stylize_fast(x, model=str(tiny_model), faces="auto", face_style=0.25)
    off = stylize_fast(x, model=str(tiny_model), faces="off")
    inside = lambda y: float((y - x)[..., y0:y1, x0:x1].abs().mean())  # noqa: E731
    assert inside(auto) < 0.5 * inside(off)
    assert torch.equal(auto[..., :, :4], off[..., :, :4])  # far from the face: the full strength


def test_without_faces_auto_is_bit_for_bit_off_fast(tiny_model):
    from impasto.images import load_image

    x = load_image(EXAMPLES / "tubingen.jpg", 64).rgb
    for strength in (1.0, 0.6):
        auto = stylize_fast(x, model=str(tiny_model), strength=strength, faces="auto")
        assert torch.equal(auto, stylize_fast(x, model=str(tiny_model), strength=strength, faces="off"))


def test_fast_face_style_is_checked():
    with pytest.raises(ConfigError, match="face-style must be between 0 and 1"):
        FastConfig(face_style=1.2)
