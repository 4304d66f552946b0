"""The ASGI middleware in front of every route: trusted hosts, who is asking, cross-origin writes, request
size and pace — all before any body is parsed."""

from __future__ import annotations

from importlib import resources

import anyio
from fastapi.responses import HTMLResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .auth import ANONYMOUS, UNSAFE_METHODS, Authenticator, Principal, same_origin
from .routes.deps import error_response
from .timeouts import SlowBody, paced


class TrustedHosts:
    """Starlette's TrustedHostMiddleware, with its plain-text refusal answered as this API's JSON."""

    def __init__(self, app, *, allowed: list[str]) -> None:
        self.app = app
        self.check = TrustedHostMiddleware(self._trusted, allowed_hosts=allowed, www_redirect=False)

    async def _trusted(self, scope, receive, send) -> None:
        scope["impasto.trusted_host"] = True
        await self.app(scope, receive, send)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def checked_send(message):
            if scope.get("impasto.trusted_host"):
                await send(message)
            elif message["type"] == "http.response.start":  # the check refused the Host header
                host = Headers(scope=scope).get("host", "")
                await error_response(
                    400,
                    "bad_host",
                    f"this server does not answer to the host name {host!r} "
                    "(impasto serve --allowed-host NAME adds one)",
                    field="host",
                )(scope, receive, send)

        await self.check(scope, receive, checked_send)


class Guard:
    """Finds who is asking (an API key, a session cookie, or nobody; see :mod:`.auth`) on every route but
    /healthz and /login, refuses cross-origin writes (403), and refuses request bodies above the limit
    (413) or arriving too slowly (408) while they stream in."""

    def __init__(self, app, *, auth: Authenticator, max_body: int, body_timeout: float) -> None:
        self.app, self.auth, self.max_body, self.body_timeout = app, auth, max_body, body_timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path, method = scope.get("path", ""), scope.get("method", "GET")
        principal, by_cookie = (
            (None, False)
            if path == "/healthz"
            else await anyio.to_thread.run_sync(self.auth.identify, headers)
        )
        if method in UNSAFE_METHODS and path != "/healthz":
            # Browsers send Origin on every POST/DELETE (a script with a key header need not). A session made
            # with a key must show it; a keyless server's anonymous session holds nothing a script lacks.
            origin = same_origin(scope, headers, https=self.auth.access.secure_cookie)
            if origin is False or (
                by_cookie and origin is None and principal is not None and principal.key is not None
            ):
                response = error_response(
                    403,
                    "cross_origin",
                    "refused: this write comes from another site's page (Origin/Referer is not this server)",
                    field="origin",
                )
                return await response(scope, receive, send)
        if principal is None and self.auth.required and path not in ("/healthz", "/login"):
            if path == "/" and method in ("GET", "HEAD"):
                return await HTMLResponse(static_text("login.html"), status_code=401)(scope, receive, send)
            response = error_response(
                401,
                "unauthorized",
                "missing or wrong API key (send it as the X-API-Key header)",
                field="api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
            return await response(scope, receive, send)
        scope.setdefault("state", {})["principal"] = principal or Principal(ANONYMOUS)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return await self._too_large(scope, receive, send)
        seen = 0
        started = False
        paced_receive = paced(receive, self.body_timeout)

        async def limited_receive():
            nonlocal seen
            message = await paced_receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._too_large(scope, receive, send)
        except SlowBody as exc:
            if not started:
                await error_response(408, "too_slow", str(exc.detail), field="body", headers=exc.headers)(
                    scope, receive, send
                )

    async def _too_large(self, scope, receive, send) -> None:
        mib = self.max_body / 1024 / 1024
        await error_response(
            413, "too_large", f"request body is larger than {mib:.1f} MiB", field="body", limit=self.max_body
        )(scope, receive, send)


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit / 1024 / 1024:.1f} MiB")
        self.limit = limit


def static_text(name: str) -> str:
    return resources.files("impasto.service").joinpath("static", name).read_text(encoding="utf-8")
