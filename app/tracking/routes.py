"""The tracking routes: Kissmetrics /e /s /a, Segment /v1/*, and /km.js.
Handlers here only move bytes: read the request, authenticate the key, hand
the parsed call to the protocol module, answer."""
from __future__ import annotations

import base64
import uuid
from datetime import datetime, timezone
from typing import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..auth import Principal
from ..ingest.service import IngestService
from . import body, kissmetrics, responses, segment, static
from .errors import BodyRefused

# A Kissmetrics event is at most 32 KiB of properties; form-encoding can
# triple that, so the form body cap leaves room for it.
MAX_FORM_BODY = 128 * 1024
FORM_TYPES = ("application/x-www-form-urlencoded", "text/plain", "")

KissmetricsAction = Callable[[IngestService, uuid.UUID, Mapping[str, str]], Awaitable[None]]


async def authenticate(request: Request, key: str | None) -> Principal:
    """Either key of the project will do: the write key is the usual one."""
    principal = await request.state.services.auth.authorize(key)
    request.state.principal = principal  # for the access log line
    return principal


# ------------------------------------------------------------- Kissmetrics


async def kissmetrics_params(request: Request) -> dict[str, str]:
    """Query string and form body together; the body wins on a repeated name."""
    params = body.parse_form(request.scope.get("query_string", b""), "query string")
    if request.method == "POST":
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in FORM_TYPES:
            raise BodyRefused(415, "Content-Type", f"{content_type!r} is not read here; "
                                                   "send application/x-www-form-urlencoded")
        params.update(body.parse_form(await body.read(request, MAX_FORM_BODY), "body"))
    return params


def kissmetrics_endpoint(action: KissmetricsAction):
    async def handle(request: Request) -> Response:
        if request.method == "HEAD":  # link checkers and prefetchers record nothing
            return responses.pixel()
        params = await kissmetrics_params(request)
        principal = await authenticate(request, params.get(kissmetrics.KEY))
        await action(request.state.services.ingest, principal.project_id, params)
        return responses.pixel()

    handle.__name__ = f"kissmetrics_{action.__name__}"
    return responses.endpoint(handle, key_field=kissmetrics.KEY)


# ----------------------------------------------------------------- Segment


def basic_user(header: str) -> str | None:
    """The write key from `Authorization: Basic base64(key:)` (or a Bearer key)."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII text ("Basic ÿþ")
        return None
    return decoded.partition(":")[0] or None


def segment_endpoint(kind: str | None):
    """kind: the message type of a single-message endpoint; None for /v1/batch."""

    async def handle(request: Request) -> Response:
        received_at = datetime.now(timezone.utc)
        payload = body.parse_json(await body.read(request, segment.MAX_BATCH_BYTES))
        key = basic_user(request.headers.get("authorization", ""))
        if key is None and isinstance(payload, dict) and isinstance(payload.get("writeKey"), str):
            key = payload["writeKey"]
        principal = await authenticate(request, key)
        if kind is None:
            plan = segment.plan_batch(payload, received_at)
        else:
            plan = segment.plan_message(payload, kind, received_at)
        events = segment.check(plan, datetime.now(timezone.utc))
        await segment.apply(request.state.services.ingest, principal.project_id, plan, events)
        return responses.success()

    handle.__name__ = f"segment_{kind or 'batch'}"
    return responses.endpoint(handle, key_field="writeKey")


def table() -> dict[str, tuple[frozenset[str], responses.Handler]]:
    """Every tracking path: the methods it answers and its handler."""
    km_methods = frozenset({"GET", "HEAD", "POST", "OPTIONS"})
    segment_methods = frozenset({"POST", "OPTIONS"})
    out = {
        "/e": (km_methods, kissmetrics_endpoint(kissmetrics.record)),
        "/s": (km_methods, kissmetrics_endpoint(kissmetrics.set_properties)),
        "/a": (km_methods, kissmetrics_endpoint(kissmetrics.alias)),
        "/km.js": (frozenset({"GET", "HEAD"}), static.km_js),
    }
    # Each Segment path and its short alias; /v1/import is Segment's name for a historical batch.
    for kind, paths in (("track", ("track", "t")), ("identify", ("identify", "i")), ("alias", ("alias", "a")),
                        ("page", ("page", "p")), ("screen", ("screen", "s")), ("group", ("group", "g")),
                        (None, ("batch", "import"))):
        handler = segment_endpoint(kind)
        out.update({f"/v1/{path}": (segment_methods, handler) for path in paths})
    return out


class TrackingRoutes:
    """The tracking paths, answered straight from ASGI in front of the
    Starlette application (which serves everything else). A tracking request
    is one event from a browser or a server, the hottest path there is:
    Starlette's router and its two exception middlewares cost more than the
    handler's own work, and the handlers need none of them (responses.endpoint
    maps every error to an answer)."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.table = table()
        self.paths = frozenset(self.table)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = self.table.get(scope["path"]) if scope["type"] == "http" else None
        if entry is None:
            return await self.app(scope, receive, send)
        methods, handler = entry
        if scope["method"] in methods:
            response = await handler(Request(scope, receive))
        else:
            response = PlainTextResponse("Method Not Allowed", status_code=405,
                                         headers={"Allow": ", ".join(sorted(methods))})
        await response(scope, receive, send)
