"""The database driver's errors as domain errors, at storage's edge: nothing
above storage names an asyncpg exception. A transport asks `domain_error`
what an exception means (app/problems.py does, for all of them)."""
from __future__ import annotations

from ..errors import UNAVAILABLE_MESSAGE, UnstorableText, Unavailable, WhodidError
from .pool import CONNECTION_ERRORS, TEXT_ERRORS


def domain_error(exc: BaseException) -> WhodidError | None:
    """`exc` as the domain error it means: itself when it is one; a lost or
    refusing database as Unavailable; text PostgreSQL cannot hold as
    UnstorableText; None for anything else (a bug: answered as internal)."""
    if isinstance(exc, WhodidError):
        return exc
    if isinstance(exc, CONNECTION_ERRORS):
        return unavailable(exc)
    if isinstance(exc, TEXT_ERRORS):
        return UnstorableText()
    return None


def unavailable(exc: BaseException) -> Unavailable:
    error = Unavailable(UNAVAILABLE_MESSAGE)
    error.__cause__ = exc
    return error


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached (now, or for a retry)."""
    return isinstance(exc, (Unavailable, *CONNECTION_ERRORS))
