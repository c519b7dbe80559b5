"""Responses of the tracking endpoints, and the ONE place where errors become
HTTP answers. Every answer, errors included, is CORS-open: browsers send from
any site, and only a write key (public by design) is needed."""
from __future__ import annotations

import base64
import logging
from typing import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import Forbidden, Unauthenticated, Unavailable
from ..problems import http_headers, message, problem
from .errors import BodyRefused

log = logging.getLogger("whodid.tracking")

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
CORS = {"Access-Control-Allow-Origin": "*"}
# A pixel must never come from a cache: every hit has to reach us.
NO_STORE = {"Cache-Control": "no-store, max-age=0"}

Handler = Callable[[Request], Awaitable[Response]]


def json_response(status: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers={**CORS, **NO_STORE, **(headers or {})})


# The two success answers never change: built once (their header lists
# included) and sent as they are; sending a Starlette Response mutates nothing.
_PIXEL = Response(PIXEL, media_type="image/gif", headers={**CORS, **NO_STORE})
_SUCCESS = json_response(200, {"success": True})


def pixel() -> Response:
    """The Kissmetrics success answer: a transparent 1×1 GIF."""
    return _PIXEL


def success() -> Response:
    """The Segment success answer."""
    return _SUCCESS


def preflight(request: Request) -> Response:
    requested = request.headers.get("access-control-request-headers")
    return Response(status_code=204, headers={
        **CORS,
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": requested or "Content-Type, Content-Encoding, Authorization",
        "Access-Control-Max-Age": "86400",
    })


def error(status: int, code: str, message: str, field: str | None, headers: dict[str, str] | None = None) -> Response:
    # `error` and `field` for people and scripts; `code` and `message` are what
    # Segment's libraries read out of an error answer.
    return json_response(status, {"error": message, "field": field, "code": code, "message": message}, headers)


def error_response(request: Request, exc: Exception, key_field: str) -> Response:
    if isinstance(exc, BodyRefused):
        code = "PAYLOAD_TOO_LARGE" if exc.status == 413 else "UNSUPPORTED_MEDIA_TYPE"
        return error(exc.status, code, exc.message, exc.field)
    domain = problem(exc)
    if domain is not None:
        # The key is the protocol's own parameter (`_k`, `writeKey`): a refusal of it names it.
        if isinstance(domain, Unauthenticated):
            return error(domain.status, domain.code, f"{key_field}: {domain.message}", key_field)
        if isinstance(domain, Forbidden):
            return error(domain.status, domain.code, domain.message, key_field)
        if isinstance(domain, Unavailable):
            log.warning("tracking unavailable: %s", exc, extra={"request_id": _request_id(request)})
        return error(domain.status, domain.code, message(domain), domain.field, http_headers(domain))
    request_id = _request_id(request)
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc,
              extra={"request_id": request_id})
    return json_response(500, {"error": "Unexpected error.", "field": None, "code": "INTERNAL",
                               "message": "Unexpected error.", "requestId": request_id})


def _request_id(request: Request) -> str:
    return getattr(request.state, "request_id", None) or "-"


def endpoint(handler: Handler, *, key_field: str) -> Handler:
    """Wrap a tracking handler: answer CORS preflights, and map every error.
    `key_field` is the protocol's name for the API key (`_k`, `writeKey`)."""

    async def run(request: Request) -> Response:
        if request.method == "OPTIONS":
            return preflight(request)
        try:
            return await handler(request)
        except Exception as exc:  # noqa: BLE001 — this IS the one place errors are mapped
            return error_response(request, exc, key_field)

    run.__name__ = getattr(handler, "__name__", "tracking")
    return run
