"""The browser UI (``/`` and ``/static``) and the interactive API page (``/docs``), whose Swagger UI
files come from the ``swagger-ui-bundle`` package (installed with the ``serve`` extra), not a CDN."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from ..middleware import static_text
from .deps import PrincipalDep, ServiceDep
from .session import set_session

router = APIRouter(include_in_schema=False)

DOCS_ASSETS = "/docs/assets"


@router.get("/")
def index(request: Request, service: ServiceDep, who: PrincipalDep) -> HTMLResponse:
    response = HTMLResponse(static_text("index.html"), headers={"Cache-Control": "no-cache"})
    if not service.auth.required and who.session is None:  # no keys: the browser owns its jobs
        set_session(service, request, response, *service.auth.anonymous_session())
    return response


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} — API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        # Swagger UI's default validator is an outside service (a badge that sends it the spec): none.
        swagger_ui_parameters={"validatorUrl": None},
    )


def mount_static(app: FastAPI) -> None:
    """The UI's own files and Swagger UI's, each from its installed package."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/static", StaticFiles(packages=[("impasto.service", "static")]), name="static")
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
