"""The gallery of style images offered by the browser UI (``--gallery DIR``) and their thumbnails."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from .deps import ERRORS, ApiError, Service, ServiceDep

router = APIRouter(tags=["service"])

GALLERY_EXTS = (".jpg", ".jpeg", ".png", ".webp")
THUMB_SIZE = 256


def gallery_files(service: Service) -> list[Path]:
    gallery_dir = service.settings.gallery
    if gallery_dir is None or not Path(gallery_dir).is_dir():
        return []
    return sorted(p for p in Path(gallery_dir).iterdir() if p.suffix.lower() in GALLERY_EXTS and p.is_file())


def gallery_file(service: Service, name: str) -> Path:
    for p in gallery_files(service):
        if p.name == name:
            return p
    raise ApiError(404, "not_found", f"no gallery image named '{name}'", field="style_gallery")


def ensure_thumb(service: Service, src: Path) -> Path:
    thumb = service.thumbs_dir / f"{src.stem}-{int(src.stat().st_mtime)}.jpg"
    if not thumb.is_file():
        from PIL import Image

        from ...images import open_image
        from ...output import atomic_write

        service.thumbs_dir.mkdir(parents=True, exist_ok=True)
        im = open_image(src).convert("RGB")
        im.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
        atomic_write(thumb, lambda fh: im.save(fh, format="JPEG", quality=85))
    return thumb


def warm_thumbs(service: Service) -> None:
    """Make the thumbnails in a daemon thread, so the first page load does not decode every painting."""

    def warm() -> None:
        for src in gallery_files(service):
            try:
                ensure_thumb(service, src)
            except Exception:
                continue

    threading.Thread(target=warm, name="impasto-thumbs", daemon=True).start()


@router.get("/v1/gallery", summary="Style images offered by the browser UI")
def list_gallery(service: ServiceDep) -> dict[str, Any]:
    return {
        "images": [
            {
                "name": p.name,
                "title": p.stem.replace("_", " ").replace("-", " "),
                "thumbnail": f"/v1/gallery/{p.name}",
            }
            for p in gallery_files(service)
        ]
    }


@router.get(
    "/v1/gallery/{name}",
    summary="A gallery image's thumbnail (JPEG)",
    responses={200: {"content": {"image/jpeg": {}}}, **ERRORS},
)
def gallery_thumb(name: str, service: ServiceDep) -> FileResponse:
    thumb = ensure_thumb(service, gallery_file(service, name))
    return FileResponse(thumb, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})
