"""The floor for the tracking benchmarks: a bare Starlette app that answers
/e with the same 1×1 GIF (and the same headers) as whodid, touching nothing,
and /graphql with a fixed JSON body. Served like whodid: uvicorn, uvloop,
httptools, `--workers 2`.

    .venv/bin/uvicorn bench.bare_app:app --workers 2 --no-access-log"""
from __future__ import annotations

import base64

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store, max-age=0"}
GRAPHQL_OK = b'{"data":{"recordEvent":{"duplicate":false}}}'


async def pixel(request: Request) -> Response:
    return Response(PIXEL, media_type="image/gif", headers=HEADERS)


async def graphql(request: Request) -> Response:
    await request.body()
    return Response(GRAPHQL_OK, media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(routes=[
    Route("/e", pixel, methods=["GET", "POST"]),
    Route("/graphql", graphql, methods=["POST"]),
    Route("/healthz", healthz),
])
