"""Domain errors. Transports map them to their own errors in one place each
(app/graphql/errors.py, app/tracking/responses.py)."""
from __future__ import annotations


class WhodidError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadInput(WhodidError):
    """The caller sent something we refuse; `field` names the offending input."""

    code = "BAD_USER_INPUT"

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class Unauthenticated(WhodidError):
    code = "UNAUTHENTICATED"


class Forbidden(WhodidError):
    code = "FORBIDDEN"


class NotFound(WhodidError):
    code = "NOT_FOUND"


class Unavailable(WhodidError):
    """The database cannot be reached; the caller should retry later."""

    code = "UNAVAILABLE"


class ReportTimeout(WhodidError):
    code = "TIMEOUT"
