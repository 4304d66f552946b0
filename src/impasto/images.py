"""Reading, converting, resizing and writing images.

Inside impasto an image is a float tensor in [0, 1], RGB, shape ``(1, 3, H, W)``. Conversion to a
network's own convention happens only inside the feature extractor (:mod:`impasto.vgg`).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

#: Largest pixel count accepted from a file (decompression-bomb guard); ``IMPASTO_MAX_PIXELS`` overrides.
DEFAULT_MAX_PIXELS = 100_000_000

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


def max_pixels() -> int:
    value = os.environ.get("IMPASTO_MAX_PIXELS")
    if value is None:
        return DEFAULT_MAX_PIXELS
    try:
        return max(1, int(value))
    except ValueError:
        raise ImageError(f"IMPASTO_MAX_PIXELS must be an integer, got {value!r}") from None


def open_image(path: str | os.PathLike, *, limit: int | None = None, what: str = "image") -> Image.Image:
    """Open, fully decode and orient (EXIF) an image file; every failure is one :class:`ImageError` line."""
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
            with Image.open(p) as im:
                w, h = im.size
                if w == 0 or h == 0:
                    raise ImageError(f"{what} '{p}' has zero size ({w}x{h})")
                if w * h > limit:
                    raise ImageError(
                        f"{what} '{p}' has {w}x{h} = {w * h} pixels, above the limit of {limit} "
                        "(set IMPASTO_MAX_PIXELS to allow more)"
                    )
                im.load()
                im = ImageOps.exif_transpose(im)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{what} '{p}' is too large to decode safely (decompression bomb guard)") from None
    except UnidentifiedImageError:
        if _png_has_zero_size(p):
            raise ImageError(f"{what} '{p}' has zero size") from None
        raise ImageError(f"{what} '{p}' is not a readable image: cannot identify image file") from None
    except PermissionError:
        raise ImageError(f"{what} '{p}' cannot be read: permission denied") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise ImageError(f"{what} '{p}' is truncated or corrupt: {exc}") from None
    return im


def _png_has_zero_size(path: Path) -> bool:
    """Pillow refuses a PNG whose header says 0 pixels wide or high; tell that case apart."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    return head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and (
        int.from_bytes(head[16:20], "big") == 0 or int.from_bytes(head[20:24], "big") == 0
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
        arr = np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)
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


def fit_longest(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """(height, width) scaled so that the longest side is ``longest`` (at least 1 px each)."""
    h, w = size
    scale = longest / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def load_image(
    path: str | os.PathLike, size: int | None = None, *, limit: int | None = None, what: str = "image"
) -> Picture:
    """Load an image as a :class:`Picture`, resized (Lanczos) so its longest side is ``size``."""
    im = open_image(path, limit=limit, what=what)
    if size is not None and max(im.size) != size:
        h, w = fit_longest((im.height, im.width), size)
        im = im.resize((w, h), Image.Resampling.LANCZOS)
    return pil_to_picture(im)


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
    arr = (t.float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())
    im = Image.fromarray(np.ascontiguousarray(arr), "RGB")
    if alpha is not None:
        a = alpha.detach().float()
        a = a.reshape(1, 1, *a.shape[-2:])
        if tuple(a.shape[-2:]) != (im.height, im.width):
            a = resize(a, (im.height, im.width))
        a_im = Image.fromarray(a[0, 0].clamp(0, 1).mul(255).round().byte().cpu().numpy(), "L")
        im.putalpha(a_im)
    return im


def check_output_path(path: str | os.PathLike, inputs: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Validate an output path before any work: known extension, writable directory, not an input."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in SAVE_FORMATS:
        known = ", ".join(sorted(SAVE_FORMATS))
        raise ImageError(f"output '{p}' has unknown extension '{p.suffix or '(none)'}'; use one of {known}")
    if p.is_dir():
        raise ImageError(f"output '{p}' is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ImageError(f"output directory '{parent}' does not exist")
    try:  # a real probe: os.access() says yes to root even on read-only file systems
        fd, probe = tempfile.mkstemp(prefix=".impasto-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError:
        raise ImageError(f"output directory '{parent}' is not writable") from None
    for inp in inputs:
        try:
            if Path(inp).exists() and p.exists() and os.path.samefile(p, inp):
                raise ImageError(f"output '{p}' is one of the inputs; refusing to overwrite it")
        except OSError:
            continue
    return p


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it into place."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent if str(p.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_image(
    image: torch.Tensor,
    path: str | os.PathLike,
    *,
    alpha: torch.Tensor | None = None,
    quality: int = 95,
) -> Path:
    """Write an image atomically; format from the extension. Alpha is kept for PNG and WebP."""
    p = Path(path)
    fmt = SAVE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        check_output_path(p)  # raises the unknown-extension error
    im = to_pil(image, alpha if fmt in ("PNG", "WEBP") else None)
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {"optimize": False}
    try:
        atomic_write(p, lambda fh: im.save(fh, format=fmt, **options))
    except FileNotFoundError:
        raise ImageError(f"output directory '{p.parent}' does not exist") from None
    except OSError as exc:
        raise ImageError(f"cannot write output '{p}': {exc.strerror or exc}") from None
    return p
