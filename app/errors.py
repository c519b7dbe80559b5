"""Domain errors: what went wrong, said once with everything a transport
needs to answer it (code, the field it names, HTTP status, Retry-After).
app/problems.py renders them for HTTP JSON, GraphQL and WebSocket; storage
turns the database driver's errors into them (app/storage/errors.py)."""
from __future__ import annotations

# The message a caller sees whenever the database cannot be reached.
UNAVAILABLE_MESSAGE = "The database is unavailable; retry later."
RETRY_AFTER_SECONDS = 5


class WhodidError(Exception):
    code = "INTERNAL"
    status = 500
    # The input the error is about (BadInput's field); None: the request as a whole.
    field: str | None = None
    # Seconds after which a retry may succeed (HTTP Retry-After); None: do not retry as is.
    retry_after: int | None = None

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadInput(WhodidError):
    """The caller sent something we refuse; `field` names the offending input."""

    code = "BAD_USER_INPUT"
    status = 400

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class UnstorableText(WhodidError):
    """Text the database cannot hold (the NUL character) reached a query: the
    caller's input, though no single field is known."""

    code = "BAD_USER_INPUT"
    status = 400

    def __init__(self, message: str = "text may not contain the NUL character (\\u0000)"):
        super().__init__(message)


class Unauthenticated(WhodidError):
    code = "UNAUTHENTICATED"
    status = 401


class Forbidden(WhodidError):
    code = "FORBIDDEN"
    status = 403


class NotFound(WhodidError):
    code = "NOT_FOUND"
    status = 404


class Unavailable(WhodidError):
    """The database cannot be reached; the caller should retry later."""

    code = "UNAVAILABLE"
    status = 503
    retry_after = RETRY_AFTER_SECONDS


class ReportTimeout(WhodidError):
    code = "TIMEOUT"
    status = 504
