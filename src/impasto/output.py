"""Every file impasto writes, written one way: checked before any work by :func:`check_output_path`
(a known extension, a writable directory, not one of the inputs), then written atomically — into a
temporary file beside the target, renamed into place only when complete — so a failure or Ctrl-C never
leaves a half-written file and never touches what was there.

Still images (:func:`save_image`), animations (:func:`save_animation`, GIF or MP4) and anything else
(:func:`atomic_write` with a writer, :func:`atomic_file` for libraries that want a path, e.g. video).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch
from PIL import Image

from .errors import ImageError, ImpastoError
from .images import SAVE_FORMATS, to_pil

#: Animation formats of :func:`save_animation`.
ANIMATION_FORMATS = (".gif", ".mp4")

PathLike = str | os.PathLike


def check_output_path(
    path: PathLike,
    inputs: Iterable[PathLike | None] = (),
    *,
    suffixes: Iterable[str] = tuple(SAVE_FORMATS),
    what: str = "output",
    error: type[ImpastoError] = ImageError,
) -> Path:
    """Validate an output path before any work: one of ``suffixes``, not a directory, in a writable
    directory, not one of ``inputs`` (:func:`check_outputs`). Every failure is one ``error`` line.

    >>> check_output_path("out.txt")
    Traceback (most recent call last):
    ...
    impasto.errors.ImageError: output 'out.txt' has unknown extension '.txt'; use one of .jpeg, .jpg, .png, .webp
    """
    p = Path(path)
    known = sorted(suffixes)
    if p.suffix.lower() not in known:
        raise error(
            f"{what} '{p}' has unknown extension '{p.suffix or '(none)'}'; use one of {', '.join(known)}"
        )
    if p.is_dir():
        raise error(f"{what} '{p}' is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise error(f"output directory '{parent}' does not exist")
    try:  # a real probe: os.access() says yes to root even on read-only file systems
        fd, probe = tempfile.mkstemp(prefix=".impasto-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError:
        raise error(f"output directory '{parent}' is not writable") from None
    try:
        check_outputs((p,), inputs, what=what)
    except ImageError as exc:
        raise error(str(exc), field=exc.field) from None
    return p


def check_outputs(
    outputs: Iterable[PathLike | None], inputs: Iterable[PathLike | None] = (), *, what: str = "output"
) -> None:
    """Refuse, before any work, an output path that names one of the inputs — the same path once
    resolved (``..``, symbolic links, case on case-insensitive systems) or the same file (a hard link;
    ``os.path.samefile`` when both exist) — or two outputs that name the same file.

    ``outputs`` and ``inputs`` are paths (``None`` entries are skipped); every command checks every
    path it will write (intermediates, frames, checkpoints, ``--each`` files) against every file it reads.
    """
    parents: dict[str, str] = {}

    def key(path: Path) -> str:
        parent = str(path.parent) if str(path.parent) else "."
        if parent not in parents:
            parents[parent] = os.path.normcase(os.path.realpath(parent))
        full = os.path.join(parents[parent], path.name)
        if os.path.islink(full):
            full = os.path.realpath(full)
        return os.path.normcase(full)

    ins = [Path(i) for i in inputs if i is not None]
    in_keys = {key(i): i for i in ins}
    existing_ins = [i for i in ins if i.exists()]
    seen: dict[str, Path] = {}
    for out in outputs:
        if out is None:
            continue
        o = Path(out)
        k = key(o)
        same = in_keys.get(k)
        if same is None and existing_ins and o.exists():
            same = next((i for i in existing_ins if _samefile(o, i)), None)
        if same is not None:
            raise ImageError(f"{what} '{o}' is one of the inputs ('{same}'); refusing to overwrite it")
        if k in seen:
            raise ImageError(
                f"{what} '{o}' would be written twice (also as '{seen[k]}'); give distinct outputs"
            )
        seen[k] = o


def _samefile(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@contextmanager
def atomic_file(path: PathLike, *, keep_suffix: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` (``.NAME.XXXX.part``; with ``keep_suffix`` ending in the
    target's extension, for libraries that pick the format by it); renamed onto ``path`` when the
    block finishes, removed if it raises."""
    p = Path(path)
    suffix = f".part{p.suffix}" if keep_suffix else ".part"
    fd, name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=suffix, dir=p.parent if str(p.parent) else ".")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: PathLike, write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it into place."""
    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())


def _write_error(p: Path, exc: OSError) -> ImageError:
    if isinstance(exc, FileNotFoundError):
        return ImageError(f"output directory '{p.parent}' does not exist")
    return ImageError(f"cannot write output '{p}': {exc.strerror or exc}")


def save_image(
    image: torch.Tensor, path: PathLike, *, alpha: torch.Tensor | None = None, quality: int = 95
) -> Path:
    """Write an image atomically; format from the extension. Alpha is kept for PNG and WebP."""
    p = Path(path)
    fmt = SAVE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        check_output_path(p)  # raises the unknown-extension error
    im = to_pil(image, alpha if fmt in ("PNG", "WEBP") else None)
    options: dict[str, Any] = {"quality": quality} if fmt in ("JPEG", "WEBP") else {"optimize": False}
    try:
        atomic_write(p, lambda fh: im.save(fh, format=fmt, **options))
    except OSError as exc:
        raise _write_error(p, exc) from None
    return p


def check_animation_path(path: PathLike, inputs: Iterable[PathLike | None] = ()) -> Path:
    """Validate an animation output path before any work (:func:`check_output_path` with GIF/MP4,
    and PyAV for MP4)."""
    p = check_output_path(path, inputs, suffixes=ANIMATION_FORMATS)
    if p.suffix.lower() == ".mp4":
        _require_av()
    return p


def _require_av() -> Any:
    try:
        import av
    except ImportError:
        raise ImageError("writing .mp4 needs PyAV: pip install 'impasto[video]' (or write a .gif)") from None
    return av


def save_animation(frames: Sequence[torch.Tensor], path: PathLike, *, fps: int = 12) -> Path:
    """Write frames as an animated GIF (Pillow, looping) or an H.264 MP4 (PyAV), atomically.

    MP4 frames are cropped to even width and height (a requirement of yuv420p).
    """
    p = check_animation_path(path)
    if not frames:
        raise ValueError("no frames to save")
    pictures = [to_pil(f) for f in frames]
    if p.suffix.lower() == ".gif":
        # One adaptive palette per frame; Pillow's default conversion would dither to a web palette.
        quantized = [
            im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
            for im in pictures
        ]

        def write(fh: IO[bytes]) -> None:
            quantized[0].save(
                fh,
                format="GIF",
                save_all=True,
                append_images=quantized[1:],
                duration=round(1000 / fps),
                loop=0,
                optimize=False,
                disposal=1,
            )

        atomic_write(p, write)
        return p

    av = _require_av()
    import numpy as np

    w, h = pictures[0].width // 2 * 2, pictures[0].height // 2 * 2
    if w == 0 or h == 0:
        raise ImageError(f"frames of {pictures[0].width}x{pictures[0].height} are too small for MP4")

    def write_mp4(fh: IO[bytes]) -> None:
        with av.open(fh, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"crf": "20"}
            for im in pictures:
                arr = np.ascontiguousarray(np.asarray(im)[:h, :w])
                for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    atomic_write(p, write_mp4)
    return p


__all__ = [
    "ANIMATION_FORMATS",
    "atomic_file",
    "atomic_write",
    "check_animation_path",
    "check_output_path",
    "check_outputs",
    "save_animation",
    "save_image",
]
