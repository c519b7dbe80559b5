"""Errors as every transport answers them, in one place. `problem` says what
an exception means as a domain error (app/errors.py; driver errors are turned
into domain errors by storage, app/storage/errors.py); the renderers here give
it the shape of each transport: an HTTP JSON body with its status and
headers, GraphQL `extensions`, a WebSocket close code. None from `problem`
means a bug: each transport answers it as its own internal error, with a
request id, and logs the trace."""
from __future__ import annotations

from .errors import UNAVAILABLE_MESSAGE, Unauthenticated, Unavailable, WhodidError
from .storage.errors import domain_error

# graphql-transport-ws closes a refused connection_init with 4403 (Strawberry's
# own); these are the closes beyond it. 1013: try again later.
WS_CLOSE: dict[type[WhodidError], tuple[int, str]] = {Unavailable: (1013, "database unavailable; retry later")}
# RFC 7235: a 401 names the scheme that would authenticate (GraphQL and the live stats).
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="whodid"'}


def problem(exc: BaseException) -> WhodidError | None:
    """The domain error `exc` means, or None when it is unexpected."""
    return domain_error(exc)


def message(error: WhodidError) -> str:
    """What an HTTP answer says: the error's message, except that a database
    that cannot be reached is said the same way whatever failed."""
    return UNAVAILABLE_MESSAGE if isinstance(error, Unavailable) else error.message


def http_headers(error: WhodidError, *, challenge: bool = False) -> dict[str, str]:
    """HTTP headers of an error answer: Retry-After when retrying may help, and
    the bearer challenge of a 401 when the transport takes bearer keys."""
    out: dict[str, str] = {}
    if error.retry_after is not None:
        out["Retry-After"] = str(error.retry_after)
    if challenge and isinstance(error, Unauthenticated):
        out.update(BEARER_CHALLENGE)
    return out


def graphql_extensions(error: WhodidError) -> dict[str, object]:
    """`extensions` of a GraphQL error: the code, and the field it is about."""
    extensions: dict[str, object] = {"code": error.code}
    if error.field is not None:
        extensions["field"] = error.field
    return extensions


def graphql_http_body(error: WhodidError) -> dict:
    """A GraphQL-over-HTTP answer refused before execution (the key)."""
    return {"errors": [{"message": message(error), "extensions": {"code": error.code}}]}


def plain_body(error: WhodidError) -> dict:
    """A plain JSON route's error body (the live stats)."""
    return {"error": message(error), "code": error.code}


def connection_refusal(error: WhodidError) -> dict:
    """The payload of a refused WebSocket connection_init."""
    return {"message": message(error), "code": error.code}


def ws_close(error: WhodidError) -> tuple[int, str] | None:
    """The close code and reason for `error`, when it has one of its own."""
    return WS_CLOSE.get(type(error))
