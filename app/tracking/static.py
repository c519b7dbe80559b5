"""GET /km.js: the browser tracker, cacheable for an hour and loadable from any site."""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

KM_JS = Path(__file__).resolve().parent / "static" / "km.js"


@functools.cache
def tracker() -> tuple[bytes, str]:
    """The script and its ETag, read once per process."""
    body = KM_JS.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


async def km_js(request: Request) -> Response:
    body, etag = tracker()
    headers = {
        "Cache-Control": "public, max-age=3600",
        "Access-Control-Allow-Origin": "*",
        "ETag": etag,
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)
