"""``POST /v1/jobs``: a multipart submission checked against the kind and this server's limits, its files
put in the file store, the job recorded in the job store and dispatched."""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from ...errors import ImageError, UnsupportedFormatError
from ..kinds import Kind, build_config, check_job
from ..limits import ITER_FIELDS, LimitError, is_size_field
from ..stores import Job
from ..uploads import FormError, read_form
from .deps import SUBMIT_ERRORS, ApiError, PrincipalDep, Service, ServiceDep, error_response
from .gallery import gallery_file
from .jobs import JobOut, job_out
from .kinds import default_caps

EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"}


def request_body(kinds: dict[str, Kind], max_files: int | None = None) -> dict[str, Any]:
    """OpenAPI schema of ``POST /v1/jobs``: every kind's parameters, derived from its config (at most
    ``max_files`` style images)."""
    props: dict[str, Any] = {
        "kind": {"type": "string", "enum": list(kinds), "default": "stylize"},
        "content": {"type": "string", "format": "binary", "description": "content image"},
        "style": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "style image(s)",
        },
        "style_gallery": {
            "type": "array",
            "items": {"type": "string"},
            "description": "name(s) of gallery style images (GET /v1/gallery)",
        },
    }
    for kind in kinds.values():
        for p in kind.params().values():
            entry = props.setdefault(p.name, {**p.describe(), "description": ""})
            entry.pop("name", None)
            entry.pop("doc", None)
            entry["description"] = (entry.get("description", "") + f" [{kind.name}] {p.doc}").strip()
    if max_files is not None:  # the server's --max-styles
        for name in ("style", "style_gallery"):
            props[name]["maxItems"] = max_files
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": props,
                    "required": ["kind"],
                    "additionalProperties": False,
                }
            }
        },
    }


def submit_route(kinds: dict[str, Kind], max_files: int) -> APIRouter:
    """The router of ``POST /v1/jobs`` (its documented body depends on the kinds and ``--max-styles``)."""
    submitter = APIRouter(tags=["jobs"])
    submitter.add_api_route(
        "/v1/jobs",
        submit,
        methods=["POST"],
        status_code=202,
        response_model=JobOut,
        summary="Submit a job",
        responses=SUBMIT_ERRORS,
        openapi_extra={"requestBody": request_body(kinds, max_files)},
        description="multipart/form-data: `kind`, the kind's files (`content`, `style` — repeatable, or "
        "`style_gallery` naming a gallery image) and its parameters under the CLI option names "
        "(`size`, `iters`, ...). See `GET /v1/kinds` for every parameter and its default.",
    )
    return submitter


async def submit(request: Request, service: ServiceDep, who: PrincipalDep) -> JSONResponse:
    limits, access = service.limits, service.settings.access
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", "send the job as multipart/form-data", field="body")
    if service.limiter is not None and (wait := service.limiter.hit(who.owner)):
        return error_response(
            429,
            "rate_limited",
            f"at most {access.rate_limit:g} submissions a minute per key; try again in {math.ceil(wait)} s",
            field="rate_limit",
            limit=access.rate_limit,
            headers={"Retry-After": str(math.ceil(wait))},
        )
    if await run_in_threadpool(service.backends.jobs.pending) >= limits.max_queue:
        raise queue_full(service)
    length = request.headers.get("content-length", "")
    service.disk.check(int(length) if length.isdigit() else 0)  # 507 below the free-space floor
    try:
        form = await read_form(
            request,
            spool_dir=service.spool_dir,
            disk=service.disk,
            max_file_bytes=limits.max_upload_bytes,
            max_files=limits.max_styles + 2,
            max_fields=200,
            max_field_bytes=64 * 1024,
        )
    except FormError as exc:
        raise ApiError(400, "bad_request", str(exc), field="body") from None
    try:
        job = await run_in_threadpool(create_job, service, form, who.owner)
    finally:
        await form.close()
    body = await run_in_threadpool(job_out, service, job)
    return JSONResponse(body, status_code=202, headers={"Location": body["urls"]["self"]})


def queue_full(service: Service) -> LimitError:
    n = service.limits.max_queue
    return LimitError(429, f"the queue is full ({n} jobs); try again later", field="queue", limit=n)


def create_job(service: Service, form: FormData, owner: str) -> Job:
    """Check the form, put its files in the file store, record the job and dispatch it; on any refusal
    nothing is left behind."""
    kinds, limits = service.kinds, service.limits
    kind_name = form.get("kind", "stylize")
    if not isinstance(kind_name, str) or kind_name not in kinds:
        raise ApiError(
            422,
            "invalid",
            f"kind must be one of {', '.join(kinds)}; got {kind_name!r}"
            if isinstance(kind_name, str)
            else "kind must be a text field",
            field="kind",
        )
    kind = kinds[kind_name]
    file_names = {f.name for f in kind.files}
    uploads: dict[str, list[UploadFile]] = {}
    values: dict[str, list[str]] = {}
    gallery: list[str] = []
    for key, value in form.multi_items():
        if key == "kind":
            continue
        if key == "style_gallery" and "style" in file_names:
            if not isinstance(value, str):
                raise ApiError(422, "invalid", "style_gallery must be the name of a gallery image", field=key)
            gallery.append(value)
        elif not isinstance(value, str):
            if key not in file_names:
                raise ApiError(
                    422,
                    "invalid",
                    f"unexpected file field '{key}' for kind '{kind.name}' "
                    f"(files: {', '.join(sorted(file_names))})",
                    field=key,
                )
            uploads.setdefault(key, []).append(value)
        elif key in file_names:
            raise ApiError(422, "invalid", f"{key} must be a file upload, not a text field", field=key)
        else:
            values.setdefault(key, []).append(value)
    for name, cap in default_caps(kind, limits).items():  # a default above this server's limit: the limit
        values.setdefault(name, [str(cap)])
    gallery_paths = [gallery_file(service, n) for n in gallery]
    for f in kind.files:
        n = len(uploads.get(f.name, [])) + (len(gallery_paths) if f.name == "style" else 0)
        if f.required and n == 0:
            raise ApiError(422, "invalid", f"{f.what} is required (form field '{f.name}')", field=f.name)
        if n > 1 and not f.repeatable:
            raise ApiError(422, "invalid", f"give one {f.what}, not {n}", field=f.name)
        if n > limits.max_styles:
            raise LimitError(
                422,
                f"at most {limits.max_styles} {f.what}s per job, got {n}",
                field=f.name,
                limit=limits.max_styles,
            )
    config, params = build_config(kind, values)
    check_limits(service, config, kind)

    jobs, files = service.backends.jobs, service.backends.files
    job_id = jobs.new_id()
    try:
        inputs: dict[str, list[str]] = {}
        sizes: dict[str, list[tuple[int, int]]] = {}
        for f in kind.files:
            for i, up in enumerate(uploads.get(f.name, [])):
                name, hw = store_upload(service, up, job_id, f"{f.name}-{i}", field=f.name, what=f.what)
                inputs.setdefault(f.name, []).append(name)
                sizes.setdefault(f.name, []).append(hw)
        for i, src in enumerate(gallery_paths, start=len(inputs.get("style", []))):
            name = f"style-{i}{src.suffix.lower()}"
            sizes.setdefault("style", []).append(image_size(src))
            with open(src, "rb") as fh:
                files.put(job_id, name, fh)
            inputs.setdefault("style", []).append(name)
        check_job(kind, config, sizes, limits)  # too small for the pipeline, over the compute budget: 422
        if getattr(config, "size", 0) is None and "content" in sizes:  # output at the content's size
            longest = max(sizes["content"][0])
            if longest > limits.max_size:
                raise LimitError(
                    422,
                    f"size: the content image is {longest} px on its longest side, above "
                    f"the limit of {limits.max_size}; set size",
                    field="size",
                    limit=limits.max_size,
                )
        job = jobs.submit(job_id, kind.name, params, inputs, max_pending=limits.max_queue, owner=owner)
        if job is None:
            raise queue_full(service)
    except BaseException:
        files.delete_job(job_id)
        raise
    try:
        service.backends.dispatcher.dispatch(job.id)
    except BaseException:  # not handed to a worker: withdrawn, so the client's retry is the only copy
        jobs.cancel(job.id)
        files.delete_job(job.id)
        raise
    return job


def check_limits(service: Service, config: Any, kind: Kind) -> None:
    """Sizes and iteration counts within this server's ``--max-size`` and ``--max-iters`` (422)."""
    limits = service.limits
    sizes = [f.name for f in dataclasses.fields(config) if is_size_field(f.name)]
    bounds = [(n, limits.max_size) for n in sizes] + [(n, limits.max_iters) for n in ITER_FIELDS]
    for name, limit in bounds:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > limit:
            raise LimitError(
                422,
                f"{name} must be at most {limit} on this server, got {value}",
                field=kind.form_name(name),
                limit=limit,
            )


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of a gallery image from its header (accepted formats only)."""
    from PIL import Image

    from ...images import READ_FORMATS

    try:
        with Image.open(path, formats=READ_FORMATS) as im:
            return im.height, im.width
    except Exception:
        raise ApiError(
            422, "invalid", f"gallery image '{path.name}' is not readable", field="style_gallery"
        ) from None


def store_upload(
    service: Service, up: UploadFile, job_id: str, stem: str, *, field: str, what: str
) -> tuple[str, tuple[int, int]]:
    """Copy an upload out of its spool with the size limit into a named file beside it, check that it is
    a whole image, then move it into the file store; returns its name there and its (height, width)."""
    limits = service.limits
    label = up.filename or field
    with tempfile.TemporaryDirectory(prefix="upload-", dir=service.spool_dir) as tmp_dir:
        tmp = Path(tmp_dir) / f"{stem}.upload"
        total = 0
        with open(tmp, "wb") as out:
            up.file.seek(0)
            while chunk := up.file.read(1024 * 1024):
                total += len(chunk)
                if total > limits.max_upload_bytes:
                    raise LimitError(
                        413,
                        f"{what} '{label}' is larger than {limits.max_upload_mb:g} MiB",
                        field=field,
                        limit=limits.max_upload_bytes,
                    )
                out.write(chunk)
        if total == 0:
            raise ApiError(422, "invalid", f"{what} '{label}' is empty", field=field)
        h, w, fmt = check_image(service, tmp, label, field=field, what=what)
        name = f"{stem}{EXTENSIONS.get(fmt, '.img')}"
        service.backends.files.put(job_id, name, tmp)
    return name, (h, w)


def check_image(service: Service, path: Path, label: str, *, field: str, what: str) -> tuple[int, int, str]:
    """(height, width, format) of an uploaded image that decodes whole within the pixel limit; 413/415/422
    naming ``field`` otherwise."""
    from PIL import Image

    from ...images import READ_FORMATS, open_image

    limits = service.limits
    try:
        with Image.open(path, formats=READ_FORMATS) as im:  # the header only; no other plugin sees it
            w, h = im.size
            fmt = (im.format or "").upper()
    except Image.DecompressionBombError:
        raise LimitError(
            422,
            f"{what} '{label}' has more than {limits.max_pixels} pixels",
            field=field,
            limit=limits.max_pixels,
        ) from None
    except Exception:
        w = h = 0
        fmt = ""
    if w * h > limits.max_pixels:
        raise LimitError(
            422,
            f"{what} '{label}' has {w}x{h} = {w * h} pixels, above the limit of {limits.max_pixels}",
            field=field,
            limit=limits.max_pixels,
        )
    try:
        open_image(path, limit=limits.max_pixels, what=what).close()  # full decode: truncated, corrupt
    except UnsupportedFormatError as exc:
        raise ApiError(
            415, "unsupported_media_type", str(exc).replace(f"'{path}'", f"'{label}'"), field=field
        ) from None
    except ImageError as exc:
        raise ApiError(422, "invalid", str(exc).replace(f"'{path}'", f"'{label}'"), field=field) from None
    return h, w, fmt
