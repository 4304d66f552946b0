"""Browser sessions: ``POST /login`` with a key (never in a URL) gives a random expiring token in a
cookie; ``POST /logout`` ends it; ``GET /v1/session`` says who the request is."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..auth import SESSION_COOKIE, Session
from ..middleware import static_text
from .deps import ERRORS, ErrorOut, PrincipalDep, Service, ServiceDep, error_response

router = APIRouter(tags=["service"])


def set_session(service: Service, request: Request, response: Response, token: str, session: Session) -> None:
    access = service.settings.access
    secure = access.secure_cookie or request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(access.session_hours * 3600),
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def form_or_json(json: str, form: str, *errors: int) -> dict[int | str, dict[str, Any]]:
    """The documented answers of a route that a browser form or a JSON client posts to: 200 (``json``),
    303 back to the UI (``form``) and the ``errors``."""
    return {200: {"description": json}, 303: {"description": form}, **{code: ERRORS[code] for code in errors}}


def session_out(session: Session) -> dict[str, Any]:
    return {"owner": session.owner, "key": session.key_name, "expires_at": session.expires_at}


@router.post(
    "/login",
    summary="Log in with an API key: a session cookie for the browser UI",
    responses={
        **form_or_json(
            "JSON log-in: the session (and its cookie)",
            "form log-in: the cookie, and back to the UI",
            403,
            408,
            413,
        ),
        401: {
            "model": ErrorOut,
            "content": {"text/html": {}},
            "description": "wrong key: JSON, or the log-in page again for a form",
        },
    },
    openapi_extra={
        "requestBody": {
            "content": {
                m: {
                    "schema": {
                        "type": "object",
                        "properties": {"api_key": {"type": "string"}},
                        "required": ["api_key"],
                    }
                }
                for m in ("application/x-www-form-urlencoded", "application/json")
            }
        }
    },
)
async def login(request: Request, service: ServiceDep) -> Response:
    form = "json" not in request.headers.get("content-type", "")
    try:
        body = dict(await request.form()) if form else await request.json()
    except Exception:
        body = {}
    key = body.get("api_key") if isinstance(body, dict) else None
    made = await anyio.to_thread.run_sync(service.auth.login, key) if isinstance(key, str) and key else None
    if made is None:
        if form:
            page = static_text("login.html").replace("<!--error-->", "<p class=error>Wrong API key.</p>")
            return HTMLResponse(page, status_code=401)
        return error_response(
            401, "unauthorized", "wrong or missing API key (JSON field api_key)", field="api_key"
        )
    token, session = made
    response = RedirectResponse("/", status_code=303) if form else JSONResponse(session_out(session))
    set_session(service, request, response, token, session)
    return response


@router.post(
    "/logout",
    summary="End the browser session",
    responses=form_or_json("asked for JSON", "back to the UI", 401, 403),
)
def logout(request: Request, service: ServiceDep, who: PrincipalDep) -> Response:
    token = who.session
    if token:
        service.auth.sessions.delete(token)
    form = "json" not in request.headers.get("accept", "")
    response = RedirectResponse("/", status_code=303) if form else JSONResponse({"logged_out": bool(token)})
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/v1/session", summary="Who this request is: its owner, admin or not")
def whoami(service: ServiceDep, who: PrincipalDep) -> dict[str, Any]:
    return {
        "owner": who.owner,
        "admin": who.admin,
        "key": who.key,
        "session": who.session is not None,
        "login_required": service.auth.required,
    }
