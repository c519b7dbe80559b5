"""GET /static/vendor/<package>@<version>/<file>: the front-end libraries whodid's
own pages use (app/static/vendor, listed with versions and licences in its
VENDORED.md), so that no page loads anything from another host.

A path names a version, so a file never changes under it: cached for a year
as immutable, compressed once per process when the browser accepts gzip."""
from __future__ import annotations

import functools
import gzip
import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
PREFIX = "/static/vendor"
_TYPES = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
IMMUTABLE = "public, max-age=31536000, immutable"


@functools.cache
def _file(relative: str) -> tuple[bytes, bytes, str, str] | None:
    """(body, gzipped body, media type, ETag) of a served file, or None. Only
    .js and .css files inside the vendor folder are served (not its licences'
    neighbours by accident, nor anything outside it)."""
    path = (VENDOR / relative).resolve()
    if not path.is_relative_to(VENDOR) or path.suffix not in _TYPES or not path.is_file():
        return None
    body = path.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return body, gzip.compress(body, 6, mtime=0), _TYPES[path.suffix], etag


def url(relative: str) -> str:
    """The address of a vendored file, e.g. url("graphiql@3.8.3/graphiql.min.js")."""
    return f"{PREFIX}/{relative}"


async def vendored(request: Request) -> Response:
    found = _file(request.path_params["path"])
    if found is None:
        return PlainTextResponse("not found", status_code=404)
    body, zipped, media_type, etag = found
    headers = {"Cache-Control": IMMUTABLE, "ETag": etag, "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        body = zipped
    return Response(body, media_type=media_type, headers=headers)


def routes() -> list[BaseRoute]:
    return [Route(PREFIX + "/{path:path}", vendored, methods=["GET", "HEAD"])]
