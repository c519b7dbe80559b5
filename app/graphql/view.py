"""The GraphQL endpoint over HTTP and WebSocket: Strawberry's ASGI view with
whodid's context, authenticated by the HTTP front (app/http.py) for HTTP and
in `connection_init` (on_ws_connect below) for WebSocket."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.base import HTTPException
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.unset import UNSET

from .. import strict_json
from ..auth import Role, bearer_token
from ..problems import connection_refusal, problem, ws_close
from .context import Context
from .errors import with_codes
from .answers import answered
from .persisted import carries_operation, run_persisted
from .prepared import run_prepared
from .schema import MAX_TOKENS
from .subscription import LIVE_SINK, LiveSink

_PROTOCOL_KEY = "whodid.ws_protocol"

GRAPHIQL = Path(__file__).resolve().parent / "static" / "graphiql.html"
# GraphiQL's page: scripts and styles from this server only (app/static/vendor);
# inline ones for the page's own script and GraphiQL's runtime styles.
GRAPHIQL_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "font-src 'self' data:; img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
# Strawberry refuses a request before it is a GraphQL request (a body that is
# not JSON, a wrong method or content type) with an HTTPException, which it
# answers in plain text; whodid answers in the errors shape of every other
# refusal, with a code per status.
_HTTP_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE"}


@cache
def _graphiql_page() -> str:
    return GRAPHIQL.read_text(encoding="utf-8")


@dataclass
class SocketContext(Context):
    """The context of one WebSocket connection; Strawberry fills
    `connection_params` with the payload of connection_init."""

    connection_params: dict | None = None


class _SocketAdapter(ASGIWebSocketAdapter):
    async def send_json(self, message) -> None:
        # Text frames: both protocols are JSON text, and browser clients
        # (graphql-ws, Apollo, the Live page) cannot parse binary frames.
        # (encode_json gives bytes, which Strawberry would send as binary.)
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    async def send_text(self, text: str) -> None:
        """A text frame already encoded (the live direct path: app/graphql/subscription.py)."""
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    async def iter_json(self, *, ignore_parsing_errors: bool = False):
        # A subscription whose document does not parse is answered here with
        # an `error` carrying GRAPHQL_PARSE_FAILED: Strawberry's worker task
        # would raise in its parsing hook and send only `complete`.
        async for message in super().iter_json(ignore_parsing_errors=ignore_parsing_errors):
            refusal = _parse_refusal(message)
            if refusal is None:
                yield message
            else:
                await self.send_json(refusal)

    async def close(self, code: int, reason: str) -> None:
        # on_ws_connect may already have closed with a more precise code.
        if self.ws.application_state == WebSocketState.DISCONNECTED:
            return
        await super().close(code, reason)


def _live_sender(websocket: _SocketAdapter):
    async def send(text: str) -> None:
        try:
            await websocket.send_text(text)
        except WebSocketDisconnected:
            # The client is gone: the handler cancels this operation as its
            # connection ends (as it does when a result it sends fails).
            await asyncio.Event().wait()

    return send


class _TransportWSHandler(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws, with a LiveSink for each operation's task: a
    liveEvents subscription sends its `next` frames itself (same bytes)."""

    async def run_operation(self, operation) -> None:
        prefix = '{"id":' + orjson.dumps(operation.id).decode() + ',"type":"next","payload":'
        LIVE_SINK.set(LiveSink(_live_sender(self.websocket), prefix,  # type: ignore[arg-type]
                               lambda: not operation.completed))
        await super().run_operation(operation)


class _WSHandler(BaseGraphQLWSHandler):
    """The legacy graphql-ws, the same way (`data` frames)."""

    async def handle_async_results(self, operation_id, query, operation_name, variables) -> None:
        prefix = '{"type":"data","id":' + orjson.dumps(operation_id).decode() + ',"payload":'
        LIVE_SINK.set(LiveSink(_live_sender(self.websocket), prefix))  # type: ignore[arg-type]
        await super().handle_async_results(operation_id, query, operation_name, variables)


def _parse_refusal(message: object) -> dict | None:
    """The `error` answer to a subscribe (graphql-transport-ws) or start
    (graphql-ws) message whose query is not valid GraphQL syntax, else None."""
    if not isinstance(message, dict) or message.get("type") not in ("subscribe", "start"):
        return None
    payload = message.get("payload")
    query = payload.get("query") if isinstance(payload, dict) else None
    if not isinstance(query, str):
        return None
    from graphql import GraphQLSyntaxError, parse

    try:
        parse(query, max_tokens=MAX_TOKENS)  # the schema's limit: no more work than Strawberry's
    except GraphQLSyntaxError as exc:
        error = {**exc.formatted, "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}
        return {"type": "error", "id": message.get("id"),
                "payload": [error] if message["type"] == "subscribe" else error}
    return None


def _is_subscription(query: object, operation_name: object) -> bool:
    """Whether the operation to run is a subscription (parsed only when the
    text says `subscription` at all; a bad document is left to Strawberry)."""
    if not isinstance(query, str) or "subscription" not in query:
        return False
    try:
        document = parse(query, max_tokens=MAX_TOKENS)  # the schema's limit: no more work than Strawberry's
    except (GraphQLError, RecursionError):
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [d for d in operations if d.name is not None and d.name.value == operation_name]
    return len(operations) == 1 and operations[0].operation == OperationType.SUBSCRIPTION


def _authorization(context: SocketContext) -> str | None:
    """`{"authorization": "Bearer <key>"}` from connection_init; failing that,
    the Authorization header of the upgrade request (non-browser clients)."""
    params = context.connection_params or {}
    for key, value in params.items():
        if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
            return value
    request = context.request
    if request is not None:
        return request.headers.get("authorization")
    return None


class WhodidGraphQL(GraphQL):
    websocket_adapter_class = _SocketAdapter  # type: ignore[assignment]
    graphql_transport_ws_handler_class = _TransportWSHandler
    graphql_ws_handler_class = _WSHandler

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            response = JSONResponse(
                {"errors": [{"message": exc.reason,
                             "extensions": {"code": _HTTP_CODES.get(exc.status_code, "BAD_REQUEST")}}]},
                status_code=exc.status_code,
            )
        await response(scope, receive, send)

    async def render_graphql_ide(self, request) -> Response:
        """GraphiQL, with every script and style served by whodid itself."""
        return HTMLResponse(_graphiql_page(), headers=GRAPHIQL_HEADERS)

    async def get_context(self, request, response) -> Context:
        state = request.scope.get("state", {})
        kind = SocketContext if isinstance(request, WebSocket) else Context
        return kind(
            services=state["services"],
            principal=state.get("principal"),
            request_id=state.get("request_id", "-"),
            request=request,
            response=response,
        )

    async def process_result(self, request, result):
        if result.errors:
            result.errors = with_codes(result.errors)
        return await super().process_result(request, result)

    def encode_json(self, data: Any) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        """Strict JSON (app/strict_json.py). Python's json module, Strawberry's
        default, lets NaN, Infinity and 1e309 (as inf) through and fails with
        other errors on invalid UTF-8 and deep nesting; every refusal here is
        a JSONDecodeError, which Strawberry answers with 400 over HTTP and
        close 4400 over WebSocket."""
        return strict_json.loads(data)

    def should_render_graphql_ide(self, request) -> bool:
        # GraphiQL only for a browser asking for HTML; a GET that carries an
        # operation (`query` or `extensions`, Apollo sends Accept: */*) is answered with JSON.
        return (request.method == "GET" and not carries_operation(request.query_params)
                and "text/html" in request.headers.get("accept", ""))

    async def execute_single(self, request, request_adapter, sub_response, context, root_value, request_data):
        # Automatic persisted queries and GET caching headers (app/graphql/persisted.py).
        return await run_persisted(request_adapter.method, sub_response, context, request_data,
                                   lambda data: self._execute_single(request, request_adapter, sub_response,
                                                                     context, root_value, data))

    async def _execute_single(self, request, request_adapter, sub_response, context, root_value, request_data):
        # A plain recordEvent document: without the engine (app/graphql/prepared.py).
        prepared = await run_prepared(request_adapter.method, context, request_data, self.schema._schema)
        if prepared is not None:
            return prepared
        # Strawberry runs a subscription sent over HTTP as if it were a query:
        # the stream cannot be returned and it ends as an unexpected error.
        # Subscriptions are served over WebSocket only; say so.
        if _is_subscription(request_data.query, request_data.operation_name):
            raise HTTPException(400, "subscriptions are served over WebSocket at /graphql "
                                     "(graphql-transport-ws or graphql-ws), not over HTTP")
        # A report query answered from cached reports only: its whole answer is kept (app/graphql/answers.py).
        return await answered(context, request_data, lambda data: super(WhodidGraphQL, self).execute_single(
            request, request_adapter, sub_response, context, root_value, data))

    def parse_json(self, data: str | bytes) -> Any:
        value = super().parse_json(data)
        if not isinstance(value, (dict, list)):  # Strawberry would fail on it with a 500
            raise HTTPException(400, "The request body must be a JSON object")
        return value

    async def pick_websocket_subprotocol(self, request):
        protocol = await super().pick_websocket_subprotocol(request)
        request.scope[_PROTOCOL_KEY] = protocol
        return protocol

    async def on_ws_connect(self, context: Context):
        """Authenticate a WebSocket connection with the project's READ key.

        Refusals (missing, unknown or write key): graphql-transport-ws closes
        with 4403 Forbidden (the protocol's code for a refused connection_init);
        the legacy graphql-ws protocol sends `connection_error` with
        {message, code} and closes. A database that cannot check the key:
        close 1013 (try again later) on graphql-transport-ws."""
        services = context.services
        token = bearer_token(_authorization(context))
        try:
            principal = await services.auth.authorize(
                token, Role.READ, "subscriptions need the project's read key; a write key was used")
        except Exception as exc:
            error = problem(exc)
            if error is None:
                raise
            close = ws_close(error)
            websocket = context.response
            if close is not None and websocket is not None \
                    and websocket.scope.get(_PROTOCOL_KEY) == GRAPHQL_TRANSPORT_WS_PROTOCOL:
                await websocket.close(code=close[0], reason=close[1])
            raise ConnectionRejectionError(connection_refusal(error)) from None
        context.principal = principal
        if context.request is not None:
            context.request.scope.setdefault("state", {})["principal"] = principal  # for the request log line
        return UNSET
