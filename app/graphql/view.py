"""The GraphQL endpoint over HTTP and WebSocket: Strawberry's ASGI view with
whodid's context, authenticated by the HTTP front (app/http.py)."""
from __future__ import annotations

from typing import Any

import orjson
from strawberry.asgi import GraphQL

from .context import Context


class WhodidGraphQL(GraphQL):
    async def get_context(self, request, response) -> Context:
        state = request.scope.get("state", {})
        return Context(
            services=state["services"],
            principal=state.get("principal"),
            request_id=state.get("request_id", "-"),
            request=request,
            response=response,
        )

    def encode_json(self, data: Any) -> bytes:
        return orjson.dumps(data)
