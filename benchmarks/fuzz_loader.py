"""Fuzz the image loader at scale: mutated tiny images of every accepted format (and of refused ones:
EPS, PDF, AVIF) through :func:`impasto.images.load_image`; every outcome must be a decoded picture or an
:class:`~impasto.errors.ImageError`, and no program (Ghostscript) may ever be started.

    nice python benchmarks/fuzz_loader.py --count 100000 --seconds 900

Prints the counts per format and outcome; exits 1 if any input raised something else or a subprocess
was attempted. ``tests/test_images.py`` runs the same seeds and mutations through Hypothesis, a few
hundred per format, in ``make test``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import os
import random
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

#: Seeds: (label, Pillow format, mode, save options). Refused formats must come out as ImageError.
SEEDS = (
    ("jpeg", "JPEG", "RGB", {"quality": 80}),
    ("jpeg-cmyk", "JPEG", "CMYK", {}),
    ("png", "PNG", "RGBA", {}),
    ("png-16bit", "PNG", "I;16", {}),
    ("png-palette", "PNG", "P", {"transparency": 0}),
    ("webp", "WEBP", "RGB", {"quality": 70}),
    ("tiff", "TIFF", "RGB", {"compression": "tiff_lzw"}),
    ("tiff-float", "TIFF", "F", {}),
    ("bmp", "BMP", "RGB", {}),
    ("gif", "GIF", "P", {"save_all": True}),
    ("eps", "EPS", "RGB", {}),
    ("pdf", "PDF", "RGB", {}),
    ("avif", "AVIF", "RGB", {"quality": 60}),
)
REFUSED = ("eps", "pdf", "avif")


def seed_bytes(label: str, fmt: str, mode: str, options: dict) -> bytes:
    """A tiny 11×7 gradient in ``mode``, saved as ``fmt`` (a two-frame GIF for ``save_all``)."""
    y, x = np.mgrid[0:7, 0:11]
    rgb = np.stack([x * 23, y * 36, (x + y) * 14], axis=-1).astype(np.uint8)
    im = Image.fromarray(rgb, "RGB")
    if mode == "I;16":
        im = Image.fromarray((x * 5000 + y * 300).astype(np.uint16))
    elif mode == "F":
        im = Image.fromarray((x / 11 + y / 70).astype(np.float32), "F")
    elif mode != "RGB":
        im = im.convert(mode)
    buf = io.BytesIO()
    if options.get("save_all"):
        im.save(buf, format=fmt, save_all=True, append_images=[im.rotate(90, expand=False)])
    else:
        im.save(buf, format=fmt, **options)
    return buf.getvalue()


def seeds() -> dict[str, bytes]:
    return {label: seed_bytes(label, fmt, mode, options) for label, fmt, mode, options in SEEDS}


#: Mutations: flip a byte, set a byte (0x00, 0xff, random), truncate, insert bytes, duplicate a span.
OPS = ("flip", "set", "truncate", "insert", "duplicate")


def mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    """Apply ``(op, position, value)`` mutations; positions wrap around the current length, and most
    land in the first 64 bytes (headers, where decoders branch)."""
    b = bytearray(data)
    for op, pos, value in ops:
        if not b:
            break
        i = pos % min(len(b), 64) if value % 2 else pos % len(b)
        if op == "flip":
            b[i] ^= 1 << (value % 8)
        elif op == "set":
            b[i] = (0x00, 0xFF, value % 256)[value % 3]
        elif op == "truncate":
            del b[max(1, i) :]
        elif op == "insert":
            b[i:i] = bytes([value % 256]) * (1 + value % 7)
        elif op == "duplicate":
            b[i:i] = b[i : i + 1 + value % 32]
    return bytes(b)


def outcome(path: Path) -> str:
    """``decoded``, ``refused-format``, ``image-error`` — or ``BUG <exception>`` for anything else."""
    from impasto.errors import ImageError, UnsupportedFormatError
    from impasto.images import load_image

    try:
        pic = load_image(path, what="image")
    except UnsupportedFormatError:
        return "refused-format"
    except ImageError:
        return "image-error"
    except Exception as exc:
        return f"BUG {type(exc).__name__}: {exc}"
    rgb = pic.rgb
    if not (
        rgb.dim() == 4
        and rgb.shape[1] == 3
        and bool(torch.isfinite(rgb).all())
        and float(rgb.min()) >= 0
        and float(rgb.max()) <= 1
    ):
        return f"BUG decoded a picture outside [0, 1] (or not finite): shape {tuple(rgb.shape)}"
    return "decoded"


@contextlib.contextmanager
def no_programs(directory: Path):
    """A fake ``gs`` first on PATH that leaves a marker when run, and ``subprocess.Popen`` refusing to
    start anything: yields the marker file, which must never exist."""
    marker = directory / "gs-was-run"
    fake = directory / "bin" / "gs"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f"#!/bin/sh\ntouch '{marker}'\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    old_path, old_popen = os.environ.get("PATH", ""), subprocess.Popen

    def refuse(*args, **kwargs):
        marker.touch()
        raise AssertionError(f"the image loader tried to run a program: {args[0] if args else kwargs}")

    os.environ["PATH"] = f"{fake.parent}{os.pathsep}{old_path}"
    subprocess.Popen = refuse  # type: ignore[misc]
    try:
        yield marker
    finally:
        subprocess.Popen = old_popen  # type: ignore[misc]
        os.environ["PATH"] = old_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000, help="mutated inputs in total (default 100000)")
    ap.add_argument("--seconds", type=float, default=900.0, help="stop after this long (default 900)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    base = seeds()
    labels = list(base)
    counts: dict[str, collections.Counter] = {label: collections.Counter() for label in labels}
    bugs: list[str] = []
    start = time.monotonic()
    done = 0
    shm = (
        "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    )  # RAM: fast writes
    with (
        tempfile.TemporaryDirectory(prefix="impasto-fuzz-", dir=shm) as tmp,
        no_programs(Path(tmp)) as marker,
    ):
        path = Path(tmp) / "input.jpg"  # the name lies on purpose: the bytes decide
        while done < args.count and time.monotonic() - start < args.seconds:
            label = labels[done % len(labels)]
            ops = [
                (rng.choice(OPS), rng.randrange(1 << 16), rng.randrange(1 << 16))
                for _ in range(rng.randint(0, 6))
            ]
            path.write_bytes(mutate(base[label], ops))
            result = outcome(path)
            if result.startswith("BUG"):
                bugs.append(f"{label} {ops}: {result}")
                result = "BUG"
            counts[label][result] += 1
            done += 1
        ran_gs = marker.exists()
    seconds = time.monotonic() - start
    kinds = ("decoded", "image-error", "refused-format", "BUG")
    print(
        f"{done} inputs in {seconds:.0f} s ({done / seconds:.0f}/s); Ghostscript or another program started: "
        f"{'YES' if ran_gs else 'never'}"
    )
    print(f"{'seed':<12}" + "".join(f"{k:>16}" for k in kinds))
    for label in labels:
        print(f"{label:<12}" + "".join(f"{counts[label][k]:>16}" for k in kinds))
    total = sum(counts.values(), collections.Counter())
    print(f"{'total':<12}" + "".join(f"{total[k]:>16}" for k in kinds))
    for line in bugs[:20]:
        print("BUG", line, file=sys.stderr)
    return 1 if bugs or ran_gs else 0


if __name__ == "__main__":
    sys.exit(main())
