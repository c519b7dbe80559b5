"""The Strawberry schema: query, mutation and subscription types composed from
their areas, with the limits of DESIGN.md §7."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import dateutil.parser
import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.types.base_scalars import wrap_parser
from strawberry.tools import merge_types

from ..problems import problem
from .cost import QueryCost
from .errors import WhodidErrors, input_code
from .mutation import Mutation
from .persisted import MarkValidated
from .query import PeopleQuery
from .reports import ReportsQuery
from .subscription import LiveExecutionContext, LiveExtensions, Subscription

MAX_DEPTH = 12
MAX_TOKENS = 5000
MAX_ALIASES = 30


# The depth and alias limits are validation rules. Strawberry's limiters make a
# new rule class per instance; built per request, the rule tuple would differ
# every time and ValidationCache (keyed by it) would never hit. So the rules are
# built once, here, and every request's extension adds these same classes.
LIMIT_RULES = (
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
)


# asyncpg sends these two instants to PostgreSQL as -infinity and infinity.
_INFINITIES = (datetime.min.replace(tzinfo=timezone.utc), datetime.max.replace(tzinfo=timezone.utc))


def _utc_datetime(text: str) -> datetime:
    """Strawberry's DateTime parsing, then UTC (naive means UTC), which every
    resolver works in anyway. Refused here, as a coercion error naming the
    input: a time whose offset puts it outside years 1-9999 in UTC
    ("0001-01-01T00:00:00+01:00", an OverflowError later), and the first and
    last instants, which the database would read as ±infinity (a report
    series from -infinity never ends)."""
    value = dateutil.parser.isoparse(text)
    try:
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("out of range in UTC") from None
    if value in _INFINITIES:
        raise ValueError("out of range (the first and last instants are reserved)")
    return value


DateTime = strawberry.scalar(
    name="DateTime",
    description="Date with time (isoformat)",
    serialize=datetime.isoformat,
    parse_value=wrap_parser(_utc_datetime, "DateTime", exceptions=(ValueError, OverflowError)),
)


log = logging.getLogger("whodid.graphql")
# Not the caller's fault, but not a bug either: worth a warning, not a traceback.
_WARNINGS = frozenset({"UNAVAILABLE", "TIMEOUT"})


def client_error_code(error: GraphQLError) -> str | None:
    """The code of an error the caller can act on (their input, their key,
    the database away), or None for a server error (a bug)."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return (error.extensions or {}).get("code") or input_code(error)
    domain = problem(original)  # whodid's errors, and the driver's as storage names them
    return domain.code if domain is not None else None


class WhodidSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        """Strawberry logs every error at ERROR with a traceback (logger
        strawberry.execution). Here a client error is one INFO line (a
        WARNING when the database is away) with its code and request id; a
        server error is logged, with its traceback and request id, where it
        is masked (WhodidErrors in app/graphql/errors.py)."""
        context = getattr(execution_context, "context", None)
        request_id = getattr(context, "request_id", "-")
        for error in errors:
            code = client_error_code(error)
            if code is None:
                continue
            path = ".".join(map(str, error.path)) if error.path else "-"
            log.log(logging.WARNING if code in _WARNINGS else logging.INFO, "%s request_id=%s path=%s: %s",
                    code, request_id, path, error.message.splitlines()[0] if error.message else "")


def build_schema() -> strawberry.Schema:
    return WhodidSchema(
        query=merge_types("Query", (PeopleQuery, ReportsQuery)),
        mutation=Mutation,
        subscription=Subscription,
        # One execution per event shared by identical subscriptions (app/graphql/subscription.py).
        execution_context_class=LiveExecutionContext,
        config=StrawberryConfig(scalar_map={datetime: DateTime}),
        # Factories: a fresh extension per request. The parser and validation
        # caches live at module level, so they are still shared by all requests.
        extensions=[
            lambda: AddValidationRules(list(LIMIT_RULES)),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: ParserCache(maxsize=1024),
            lambda: ValidationCache(maxsize=1024),
            QueryCost,  # after ValidationCache: it prices a validated document before execution
            MarkValidated,  # after QueryCost: a persisted query is stored once valid and not too costly
            WhodidErrors,
            LiveExtensions,  # liveEvents reports drops in the next result's extensions
        ],
    )


schema = build_schema()
