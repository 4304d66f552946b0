"""Reading, converting, resizing and writing images.

Inside impasto an image is a float tensor in [0, 1], RGB, shape ``(1, 3, H, W)``. Conversion to a
network's own convention happens only inside the feature extractor (:mod:`impasto.vgg`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError, UnsupportedFormatError

#: Largest pixel count accepted from a file (decompression-bomb guard); ``IMPASTO_MAX_PIXELS`` overrides.
DEFAULT_MAX_PIXELS = 100_000_000

#: Formats impasto decodes (Pillow's names), decided from the file's bytes before any plugin reads the
#: data. Pillow recognises dozens more; some hand the file to another program (EPS/PostScript to
#: Ghostscript) and the rest are rarely photos, so everything else is refused. A phone's multi-picture
#: JPEG (MPO) is opened by the JPEG plugin and counts as JPEG; of a GIF or multi-page TIFF the first frame
#: is used.
READ_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF")
ACCEPTED = "JPEG, PNG, WebP, TIFF, BMP or GIF"

#: Leading bytes of formats people send that impasto refuses, to name them in the message.
_REFUSED_MAGIC = (
    (0, b"%!PS", "PostScript/EPS"),
    (0, b"\xc5\xd0\xd3\xc6", "EPS"),
    (0, b"%PDF", "PDF"),
    (4, b"ftypavif", "AVIF"),
    (4, b"ftypavis", "AVIF"),
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
    (4, b"ftypmsf1", "HEIF"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (0, b"\xffO\xffQ", "JPEG 2000"),
    (0, b"<?xml", "XML/SVG"),
    (0, b"<svg", "SVG"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"icns", "ICNS"),
    (0, b"8BPS", "Photoshop PSD"),
    (0, b"DDS ", "DDS"),
    (0, b"qoif", "QOI"),
)

#: Output formats by file extension.
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}

#: Colour that transparent pixels are composited onto before processing.
MATTE = (255, 255, 255)


@dataclass(frozen=True)
class Picture:
    """An image as impasto uses it: ``rgb`` (1, 3, H, W) in [0, 1] and optional ``alpha`` (1, 1, H, W)."""

    rgb: torch.Tensor
    alpha: torch.Tensor | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.rgb.shape[-2]), int(self.rgb.shape[-1])


#: What every pipeline accepts as an image: a file path, a :class:`Picture` or a (1, 3, H, W) /
#: (3, H, W) float tensor in [0, 1].
ImageInput = str | os.PathLike | Picture | torch.Tensor


def max_pixels() -> int:
    value = os.environ.get("IMPASTO_MAX_PIXELS")
    if value is None:
        return DEFAULT_MAX_PIXELS
    try:
        return max(1, int(value))
    except ValueError:
        raise ImageError(f"IMPASTO_MAX_PIXELS must be an integer, got {value!r}") from None


def open_image(path: str | os.PathLike, *, limit: int | None = None, what: str = "image") -> Image.Image:
    """Open, fully decode and orient (EXIF) an image file in one of :data:`READ_FORMATS`.

    Every failure is one :class:`ImageError` line: :class:`UnsupportedFormatError` when the bytes are
    not one of the accepted formats (whatever the file's name), ``ImageError`` for anything the decoder
    raises on a truncated, corrupt or odd file.
    """
    p = Path(path)
    limit = max_pixels() if limit is None else limit
    if not p.exists():
        raise ImageError(f"{what} '{p}' does not exist")
    if p.is_dir():
        raise ImageError(f"{what} '{p}' is a directory, not an image file")
    try:
        if p.stat().st_size == 0:
            raise ImageError(f"{what} '{p}' is empty (0 bytes)")
    except OSError as exc:
        raise ImageError(f"{what} '{p}' cannot be read: {exc.strerror}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # formats=: only these plugins may look at the file (no EPS → Ghostscript, whatever its name).
            with Image.open(p, formats=READ_FORMATS) as im:
                w, h = im.size
                if w == 0 or h == 0:
                    raise ImageError(f"{what} '{p}' has zero size ({w}x{h})")
                if w * h > limit:
                    raise ImageError(
                        f"{what} '{p}' has {w}x{h} = {w * h} pixels, above the limit of {limit} "
                        "(set IMPASTO_MAX_PIXELS to allow more)"
                    )
                im.load()
                oriented: Image.Image = ImageOps.exif_transpose(im)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{what} '{p}' is too large to decode safely (decompression bomb guard)") from None
    except UnidentifiedImageError:
        if _png_has_zero_size(p):
            raise ImageError(f"{what} '{p}' has zero size") from None
        raise UnsupportedFormatError(f"{what} '{p}' is not a readable image: {_refused_kind(p)}") from None
    except PermissionError:
        raise ImageError(f"{what} '{p}' cannot be read: permission denied") from None
    except MemoryError:
        raise ImageError(f"{what} '{p}' needs more memory to decode than is available") from None
    except Exception as exc:
        # ValueError, struct.error, IndexError, EOFError, ZeroDivisionError ... on hostile bytes
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageError(f"{what} '{p}' is truncated or corrupt: {detail}") from None
    return oriented


def _refused_kind(path: Path) -> str:
    """Why an unidentified file is refused: its format when known, else the list of accepted ones."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        head = b""
    for offset, magic, name in _REFUSED_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return f"{name} is not accepted (use {ACCEPTED})"
    return f"cannot identify image file (accepted: {ACCEPTED})"


def _png_has_zero_size(path: Path) -> bool:
    """Pillow refuses a PNG whose header says 0 pixels wide or high; tell that case apart."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    return (
        head[:8] == b"\x89PNG\r\n\x1a\n"
        and head[12:16] == b"IHDR"
        and (int.from_bytes(head[16:20], "big") == 0 or int.from_bytes(head[20:24], "big") == 0)
    )


def pil_to_picture(im: Image.Image) -> Picture:
    """Convert any Pillow mode to RGB (+ alpha when the image has transparency)."""
    alpha = None
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / top, 0.0, 1.0).astype(np.float32)
        rgb = torch.from_numpy(np.repeat(arr[None], 3, axis=0))[None]
        return Picture(rgb.contiguous(), None)
    if mode == "F":
        # a float TIFF may hold NaN or ±inf: black, white and black rather than NaN in every later sum
        arr = np.clip(
            np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0
        )
        return Picture(torch.from_numpy(np.repeat(arr[None], 3, axis=0))[None].contiguous(), None)
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("LA", "PA", "La", "RGBa"):
        im = im.convert("RGBA")
    elif mode == "1":
        im = im.convert("L")
    if im.mode == "RGBA":
        a = im.getchannel("A")
        matte = Image.new("RGB", im.size, MATTE)
        matte.paste(im.convert("RGB"), mask=a)
        alpha = torch.from_numpy(np.asarray(a, dtype=np.float32) / 255.0)[None, None]
        im = matte
    elif im.mode != "RGB":
        im = im.convert("RGB")  # L, CMYK, YCbCr, LAB, HSV ...
    rgb = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    return Picture(rgb.contiguous(), alpha)


def size_of(image: torch.Tensor) -> tuple[int, int]:
    """(height, width) of an image tensor (..., H, W).

    >>> size_of(torch.zeros(1, 3, 48, 64))
    (48, 64)
    """
    return int(image.shape[-2]), int(image.shape[-1])


def fit_longest(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """(height, width) scaled so that the longest side is ``longest`` (at least 1 px each).

    >>> fit_longest((480, 640), 512), fit_longest((1000, 10), 50)
    ((384, 512), (50, 1))
    """
    h, w = size
    scale = longest / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def load_image(
    path: str | os.PathLike, size: int | None = None, *, limit: int | None = None, what: str = "image"
) -> Picture:
    """Load an image as a :class:`Picture`, resized (Lanczos) so its longest side is ``size``."""
    im = open_image(path, limit=limit, what=what)
    try:
        if size is not None and max(im.size) != size:
            h, w = fit_longest((im.height, im.width), size)
            im = im.resize((w, h), Image.Resampling.LANCZOS)
        return pil_to_picture(im)
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"{what} '{path}' cannot be converted to RGB ({im.mode}): {exc}") from None


def as_picture(image: ImageInput, size: int | None, *, what: str) -> Picture:
    """A path, Picture or tensor as a Picture whose longest side is ``size`` (None: as it is)."""
    if isinstance(image, Picture):
        return Picture(resize(image.rgb, fit_longest(image.size, size)), image.alpha) if size else image
    if isinstance(image, torch.Tensor):
        t = (image if image.dim() == 4 else image.unsqueeze(0)).float()
        return Picture(resize(t, fit_longest((int(t.shape[-2]), int(t.shape[-1])), size)) if size else t)
    return load_image(image, size, what=what)


def noise(shape: Sequence[int], *, seed: int, device: torch.device | None = None) -> torch.Tensor:
    """Uniform white noise in [0, 1] from a seeded generator (the same seed gives the same image on
    every device).

    >>> a, b = noise((1, 3, 4, 4), seed=1), noise((1, 3, 4, 4), seed=1)
    >>> bool((a == b).all()), 0 <= float(a.min()) <= float(a.max()) <= 1
    (True, True)
    """
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(tuple(shape), generator=gen).to(device or torch.device("cpu"))


def initial_image(
    init: str | os.PathLike,
    shape: Sequence[int],
    *,
    seed: int,
    device: torch.device | None = None,
    content: torch.Tensor | None = None,
) -> torch.Tensor:
    """The image an optimisation starts from: ``content`` (a copy of ``content``), ``noise`` (seeded
    white noise of ``shape``) or an image file resized to ``shape``'s height and width."""
    if str(init) == "content" and content is not None:
        return content.clone()
    if str(init) == "noise":
        return noise(shape, seed=seed, device=device)
    hw = (int(shape[-2]), int(shape[-1]))
    return resize(load_image(Path(init), what="init image").rgb, hw).to(device or torch.device("cpu"))


def check_min_side(
    hw: tuple[int, int],
    need: int,
    what: str,
    *,
    why: str = "this pipeline",
    hint: str = "",
    field: str | None = None,
) -> None:
    """Refuse an image whose working size ``hw`` (height, width) has a side below ``need`` pixels, in one
    :class:`ImageError` line naming ``why`` (e.g. the VGG layer) and the upload ``field``."""
    if min(hw) < need:
        raise ImageError(
            f"{what} is {hw[1]}x{hw[0]} px; {why} needs at least {need} px on each side{hint}", field=field
        )


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize an NCHW tensor to (height, width): antialiased bicubic, clamped to [0, 1]."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    shrinking = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    out = F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=shrinking)
    return out.clamp(0.0, 1.0)


def to_pil(image: torch.Tensor, alpha: torch.Tensor | None = None) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) float tensor in [0, 1] → 8-bit Pillow image (RGBA when alpha given)."""
    t = image.detach()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected a single image, got a batch of {t.shape[0]}")
        t = t[0]
    arr = t.float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    im = Image.fromarray(np.ascontiguousarray(arr), "RGB")
    if alpha is not None:
        a = alpha.detach().float()
        a = a.reshape(1, 1, *a.shape[-2:])
        if tuple(a.shape[-2:]) != (im.height, im.width):
            a = resize(a, (im.height, im.width))
        a_im = Image.fromarray(a[0, 0].clamp(0, 1).mul(255).round().byte().cpu().numpy(), "L")
        im.putalpha(a_im)
    return im


#: Names that moved to :mod:`impasto.output` (every output-writing helper lives there now); kept
#: importable from here, resolved lazily (output imports this module, not the other way round).
_MOVED_TO_OUTPUT = ("atomic_write", "check_output_path", "check_outputs", "save_image")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_OUTPUT:
        from . import output

        return getattr(output, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
