"""Image loading, conversion, resizing and atomic saving."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from impasto.errors import ImageError, UnsupportedFormatError
from impasto.images import fit_longest, load_image, resize
from impasto.output import save_image


def _gradient(w: int = 40, h: int = 30) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None].repeat(w, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], -1).astype(np.uint8), "RGB")


@pytest.mark.parametrize("mode", ["P", "L", "LA", "RGBA", "CMYK", "I;16", "1"])
def test_modes_become_rgb(tmp_path, mode):
    im = _gradient()
    if mode == "I;16":
        arr = (np.asarray(im.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
        im = Image.fromarray(arr)  # uint16 → mode I;16
        path = tmp_path / "g.png"
    else:
        im = im.convert(mode)
        path = tmp_path / ("g.tif" if mode == "CMYK" else "g.png")
    im.save(path)
    pic = load_image(path)
    assert pic.rgb.shape == (1, 3, 30, 40)
    assert pic.rgb.dtype == torch.float32
    assert 0.0 <= float(pic.rgb.min()) and float(pic.rgb.max()) <= 1.0
    assert (pic.alpha is not None) == (mode in ("LA", "RGBA"))
    if mode == "I;16":  # the 16-bit range maps onto [0, 1] (not clipped at 255)
        grey = torch.from_numpy(np.asarray(_gradient().convert("L"), dtype=np.float32) / 255)
        assert torch.allclose(pic.rgb[0, 0], grey, atol=1e-4)


def test_palette_transparency_keeps_alpha(tmp_path):
    im = Image.new("P", (8, 8), 0)
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    im.paste(1, (0, 0, 4, 8))
    im.info["transparency"] = 1
    im.save(tmp_path / "p.png", transparency=1)
    pic = load_image(tmp_path / "p.png")
    assert pic.alpha is not None
    assert float(pic.alpha[0, 0, 0, 0]) == 0.0 and float(pic.alpha[0, 0, 0, 7]) == 1.0


def test_alpha_composited_on_white_and_restored_on_png(tmp_path):
    rgba = Image.new("RGBA", (10, 6), (255, 0, 0, 255))
    rgba.paste((0, 0, 255, 0), (0, 0, 5, 6))  # left half fully transparent blue
    rgba.save(tmp_path / "a.png")
    pic = load_image(tmp_path / "a.png")
    assert torch.allclose(pic.rgb[0, :, 0, 0], torch.ones(3))  # composited onto the white matte
    assert torch.allclose(pic.rgb[0, :, 0, 9], torch.tensor([1.0, 0.0, 0.0]))
    save_image(pic.rgb, tmp_path / "out.png", alpha=pic.alpha)
    out = Image.open(tmp_path / "out.png")
    assert out.mode == "RGBA"
    assert out.getpixel((0, 0))[3] == 0 and out.getpixel((9, 0))[3] == 255
    save_image(pic.rgb, tmp_path / "out.jpg", alpha=pic.alpha)  # JPEG has no alpha: dropped
    assert Image.open(tmp_path / "out.jpg").mode == "RGB"


def test_exif_orientation_applied(tmp_path):
    im = _gradient(40, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    im.save(tmp_path / "rot.jpg", exif=exif)
    pic = load_image(tmp_path / "rot.jpg")
    assert pic.size == (40, 30)  # height, width swapped


def test_resize_longest_side(tmp_path):
    _gradient(400, 300).save(tmp_path / "big.png")
    assert load_image(tmp_path / "big.png", 100).size == (75, 100)
    assert fit_longest((300, 400), 64) == (48, 64)
    t = torch.rand(1, 3, 20, 30)
    assert resize(t, (10, 15)).shape == (1, 3, 10, 15)
    assert resize(t, (20, 30)) is t


def test_png_round_trip_is_exact(tmp_path):
    t = torch.randint(0, 256, (1, 3, 9, 11)).float() / 255
    save_image(t, tmp_path / "r.png")
    assert torch.equal(load_image(tmp_path / "r.png").rgb, t)


def _zero_width_png(path: Path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    (tmp_path / "notimage.png").write_text("hello, not an image")
    good = tmp_path / "good.jpg"
    _gradient(200, 200).save(good, quality=90)
    (tmp_path / "truncated.jpg").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    _zero_width_png(tmp_path / "zero.png")
    (tmp_path / "adir").mkdir()
    return {
        "missing": (tmp_path / "nope.jpg", "does not exist"),
        "directory": (tmp_path / "adir", "is a directory"),
        "not an image": (tmp_path / "notimage.png", "not a readable image"),
        "truncated": (tmp_path / "truncated.jpg", "truncated or corrupt"),
        "empty": (tmp_path / "empty.png", "empty"),
        "zero size": (tmp_path / "zero.png", "zero size"),
    }


def test_bad_inputs_raise_one_clear_error(tmp_path):
    for path, message in _bad_inputs(tmp_path).values():
        with pytest.raises(ImageError, match=message):
            load_image(path, what="content image")


def test_pixel_limit(tmp_path, monkeypatch):
    _gradient(100, 100).save(tmp_path / "p.png")
    with pytest.raises(ImageError, match="above the limit of 5000"):
        load_image(tmp_path / "p.png", limit=5000)
    monkeypatch.setenv("IMPASTO_MAX_PIXELS", "9999")
    with pytest.raises(ImageError, match="IMPASTO_MAX_PIXELS"):
        load_image(tmp_path / "p.png")
    monkeypatch.setenv("IMPASTO_MAX_PIXELS", "10000")
    assert load_image(tmp_path / "p.png").size == (100, 100)


# -- hostile files (issue 13, finding 1): an allow-list of formats, every failure an ImageError ------
def _fuzz():
    """benchmarks/fuzz_loader.py: the seeds, mutations and outcome shared with `make fuzz-loader`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "fuzz_loader", Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz_loader.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


FUZZ = _fuzz()
FUZZ_SEEDS = FUZZ.seeds()


@pytest.mark.parametrize("label", ["eps", "pdf", "avif"])
def test_refused_formats_never_reach_a_program_even_named_jpg(tmp_path, label):
    path = tmp_path / "photo.jpg"
    path.write_bytes(FUZZ_SEEDS[label])
    with FUZZ.no_programs(tmp_path) as marker:
        with pytest.raises(UnsupportedFormatError, match=r"not a readable image: .*not accepted"):
            load_image(path, what="content image")
    assert not marker.exists()


def test_accepted_formats_decode_as_rgb(tmp_path):
    for label, data in FUZZ_SEEDS.items():
        if label in FUZZ.REFUSED:
            continue
        (tmp_path / "x").write_bytes(data)
        assert load_image(tmp_path / "x").size == (7, 11), label


MUTATIONS = st.lists(
    st.tuples(st.sampled_from(FUZZ.OPS), st.integers(0, 1 << 16), st.integers(0, 1 << 16)), max_size=6
)


@pytest.mark.filterwarnings("ignore")  # libtiff and the TIFF plugin warn about the garbage they read
@pytest.mark.parametrize("label", list(FUZZ_SEEDS))
def test_fuzzed_files_decode_or_raise_image_error_and_never_run_a_program(tmp_path, label):
    import tempfile

    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    scratch = Path(tempfile.mkdtemp(prefix="impasto-fuzz-", dir=shm or tmp_path))  # RAM: fast rewrites
    path = scratch / "input.jpg"

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(MUTATIONS)
    def check(ops):
        path.write_bytes(FUZZ.mutate(FUZZ_SEEDS[label], ops))
        result = FUZZ.outcome(path)
        assert not result.startswith("BUG"), f"{label} {ops}: {result}"
        if label in FUZZ.REFUSED:
            assert result != "decoded", f"{label} {ops} was decoded"

    try:
        with FUZZ.no_programs(tmp_path) as marker:
            check()
    finally:
        path.unlink(missing_ok=True)
        scratch.rmdir()
    assert not marker.exists(), "a program (Ghostscript) was started"


def test_a_float_tiff_with_nan_and_infinity_decodes_finite(tmp_path):
    """Found by benchmarks/fuzz_loader.py: a mutated float TIFF decoded to NaN pixels."""
    arr = np.array([[np.nan, np.inf, -np.inf, 0.5]] * 3, dtype=np.float32)
    Image.fromarray(arr, "F").save(tmp_path / "nan.tif")
    rgb = load_image(tmp_path / "nan.tif").rgb
    assert torch.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1
    assert rgb[0, 0, 0].tolist() == [0.0, 1.0, 0.0, 0.5]
