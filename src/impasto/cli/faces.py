"""`impasto faces IMAGE [-o OVERLAY.png]` — the faces the detector finds, one `x y w h score` a line."""

from __future__ import annotations

import argparse

from .. import faces
from ..images import load_image
from ..output import check_output_path
from .common import add_command, notify


def register(sub) -> None:
    p = add_command(sub, "faces", run)
    p.add_argument("image", help="photo or painting")
    p.add_argument(
        "-o", "--output", default=None, metavar="OVERLAY.png", help="also write IMAGE with the boxes drawn"
    )
    p.add_argument(
        "--threshold",
        type=_unit,
        default=faces.THRESHOLD,
        help=f"lowest detector score kept, 0-1 (default {faces.THRESHOLD})",
    )


def _unit(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    """detect faces (what --faces auto protects): prints x y w h score per face

    Run the face detector that --faces auto uses (CenterFace) and print one face a line as 'x y w h score', in
    pixels of IMAGE as given, best first. Nothing printed: no face found.
    """
    out = check_output_path(args.output, inputs=(args.image,)) if args.output else None
    pic = load_image(args.image, what="image")
    found = faces.detect(pic, threshold=args.threshold, notify=notify)
    for face in found:
        print(face.line())
    if out is not None:
        from ..images import SAVE_FORMATS
        from ..output import atomic_write

        im = faces.draw(pic, found)
        atomic_write(out, lambda fh: im.save(fh, format=SAVE_FORMATS[out.suffix.lower()]))
        notify(f"wrote {out}")
    return 0


def add_face_mask_option(p: argparse.ArgumentParser) -> None:
    """``--face-mask`` (a path, so the command line's own; ``--faces``/``--face-style`` are the config's)."""
    p.add_argument(
        "--face-mask",
        default=None,
        metavar="IMAGE",
        help="the face region by hand instead of detecting it: white = face, black = not, grey = "
        "soft (stretched to the output)",
    )


def check_face_mask(path: str | None) -> None:
    """Read ``--face-mask`` once up front, so a file that is not an image fails before any work."""
    if path is not None:
        from ..masks import load_mask

        load_mask(path, what="face mask")
