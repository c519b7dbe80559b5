"""Domain errors to GraphQL errors, in one place. Whodid's own errors keep
their message and get `extensions.code` (and `field` for bad input); a lost
database becomes UNAVAILABLE; anything else is masked as "Unexpected error."
with a request id that finds the full trace in the logs."""
from __future__ import annotations

import logging

from graphql.error import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import MaskErrors
from strawberry.types.graphql import OperationType

from ..errors import BadInput
from ..metrics import EVENTS_REFUSED
from ..problems import graphql_extensions, problem

log = logging.getLogger("whodid.graphql")


def _with_extensions(error: GraphQLError, extensions: dict, message: str | None = None) -> GraphQLError:
    return GraphQLError(
        message=message if message is not None else error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={**(error.extensions or {}), **extensions},
    )


def input_code(error: GraphQLError) -> str:
    """The code of an error in the caller's document: GRAPHQL_PARSE_FAILED for a
    syntax error (Apollo's code), BAD_USER_INPUT for the rest."""
    if isinstance(error, GraphQLSyntaxError) or error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    return "BAD_USER_INPUT"


def with_codes(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Errors that no schema extension saw (Strawberry answers a syntax error
    before the extensions' operation hook gets a result) get the code of the
    caller's input too, so that every error has `extensions.code`."""
    return [error if (error.extensions or {}).get("code") else _with_extensions(error, {"code": input_code(error)})
            for error in errors]


class WhodidErrors(MaskErrors):
    def _process_result(self, result: object) -> None:
        # MaskErrors checks the result against a runtime_checkable Protocol,
        # ~30 µs per result: the largest cost of a subscription event.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]  # any result with errors

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        out = []
        for error in errors:
            original = error.original_error
            if original is None:
                # Syntax, validation and variable coercion errors: the caller's input.
                out.append(_with_extensions(error, {"code": (error.extensions or {}).get("code", input_code(error))}))
            elif (domain := problem(original)) is not None:
                # Whodid's own errors, and the driver's as storage names them (a lost
                # database: UNAVAILABLE; a NUL character in a filter: BAD_USER_INPUT).
                if isinstance(domain, BadInput) and self.execution_context.operation_type == OperationType.MUTATION:
                    EVENTS_REFUSED.labels("graphql").inc()
                out.append(_with_extensions(error, graphql_extensions(domain), domain.message))
            elif isinstance(original, GraphQLError):
                out.append(_with_extensions(error, {"code": "BAD_USER_INPUT"}))
            else:
                log.error("unexpected error request_id=%s path=%s", request_id, error.path, exc_info=original)
                out.append(
                    _with_extensions(
                        error, {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}, self.error_message
                    )
                )
        return out
