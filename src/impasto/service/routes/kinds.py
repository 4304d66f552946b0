"""``GET /v1/kinds`` (job kinds, their uploads and parameters, this server's limits) and
``GET /v1/styles`` (the shipped fast style networks)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..kinds import Kind, job_budget
from ..limits import ITER_FIELDS, Limits, is_size_field
from .deps import ServiceDep

router = APIRouter(tags=["service"])


def describe_kind(kind: Kind) -> dict[str, Any]:
    return {
        "name": kind.name,
        "title": kind.title,
        "files": [
            {"name": f.name, "what": f.what, "required": f.required, "repeatable": f.repeatable}
            for f in kind.files
        ],
        "params": [p.describe() for p in kind.params().values()],
    }


def server_limits(kind: Kind, limits: Limits) -> dict[str, int]:
    """Parameters this server bounds below their declared maximum (sizes by ``--max-size``, iteration
    counts by ``--max-iters``), with the bound."""
    out = {}
    for p in kind.params().values():
        if is_size_field(p.field):
            out[p.name] = limits.max_size
        elif p.field in ITER_FIELDS:
            out[p.name] = limits.max_iters
    return out


def default_caps(kind: Kind, limits: Limits) -> dict[str, int]:
    """Parameters whose default is above this server's limit, with the limit (what a job gets)."""
    defaults = {p.name: p.default for p in kind.params().values()}
    return {
        name: limit
        for name, limit in server_limits(kind, limits).items()
        if isinstance(defaults[name], int) and defaults[name] > limit
    }


@router.get("/v1/kinds", summary="Job kinds, their uploads and parameters (with defaults)")
def list_kinds(service: ServiceDep) -> dict[str, Any]:
    limits = service.limits
    described = []
    for k in service.kinds.values():
        d = describe_kind(k)
        d["max_work"] = job_budget(k, limits)  # the kind's compute budget in pixel-iterations
        caps, bounded = default_caps(k, limits), server_limits(k, limits)
        for p in d["params"]:
            if p["name"] in caps:
                p["default"] = caps[p["name"]]
            limit = bounded.get(p["name"])
            if limit is not None and p.get("maximum", limit + 1) > limit:  # what this server accepts
                p["maximum"] = limit
        described.append(d)
    return {
        "kinds": described,
        "limits": {
            "max_upload_mb": limits.max_upload_mb,
            "max_pixels": limits.max_pixels,
            "max_size": limits.max_size,
            "max_iters": limits.max_iters,
            "max_queue": limits.max_queue,
            "max_styles": limits.max_styles,
            "max_work": limits.max_work,
        },
    }


@router.get("/v1/styles", summary="Shipped fast style networks and their styles")
def list_styles() -> dict[str, Any]:
    try:
        from ...fast import available_models
    except ImportError:
        return {"models": []}
    models = []
    for m in available_models():
        styles = list(getattr(m, "styles", []) or [])
        models.append({"name": m.name, "styles": [{"index": i, "name": s} for i, s in enumerate(styles)]})
    return {"models": models}
