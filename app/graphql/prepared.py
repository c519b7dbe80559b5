"""recordEvent without the GraphQL engine's per-request work, for documents
known to be nothing but a recordEvent.

A document (the text, after a persisted query was resolved) is examined once:
parsed with the schema's token limit and validated with the schema's rules
(graphql-core's and the depth and alias limits), and accepted only when it is
a single mutation whose one root field is `recordEvent(input: $v)` with
`$v: RecordEventInput!` its only variable (no default, no directive, no
fragment), selecting only `duplicate`, `__typename` and `event { id
__typename }` (aliases allowed). Every other document, a GET, and an operation
name that is not this operation's take Strawberry's path, unchanged.

For an accepted document each request runs what the engine would, without
its machinery: the variables are coerced by graphql-core's own
`get_variable_values` (any coercion error: Strawberry's path, which answers
it), the cost is priced by the query cost plan (over the maximum: Strawberry's
path), the input is built as Strawberry builds it (inputs.py), the resolver's
own function runs, and the answer is the selection in the document's order.
If that function raises, the request goes down Strawberry's path with the
exception to raise again (`Context.replay_error`) instead of running the
mutation twice, so errors are answered, coded, masked and logged exactly as
before (tests/graphql/test_prepared.py compares both paths).
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import get_variable_values
from strawberry.types import ExecutionResult

from .cost import PLANS, CostEstimate, _has_report, _max_cost, evaluate

log = logging.getLogger("whodid.graphql.prepared")

# Documents longer than this are not examined (a recordEvent is a few hundred bytes).
MAX_TEXT = 4096
CACHE_SIZE = 512
PAYLOAD_FIELDS = frozenset({"duplicate", "event", "__typename"})
EVENT_FIELDS = frozenset({"id", "__typename"})


@dataclass(frozen=True)
class Prepared:
    """An accepted recordEvent document."""

    text: str
    document: DocumentNode
    operation: OperationDefinitionNode
    operation_name: str | None
    variable: str
    root_key: str  # the response key (alias or name) of recordEvent
    # (response key, field name, sub-selection or None) in document order
    selection: tuple[tuple[str, str, tuple[tuple[str, str], ...] | None], ...]


def _plain(node: FieldNode) -> bool:
    return not node.arguments and not node.directives


def _examine(text: str, schema, rules) -> Prepared | None:
    try:
        return _accepted(text, schema, rules)
    except Exception:  # a shape not foreseen here: the engine's path, always
        log.exception("examining a document failed; it takes the engine's path")
        return None


def _accepted(text: str, schema, rules) -> Prepared | None:
    from .schema import MAX_TOKENS

    try:
        document = parse(text, max_tokens=MAX_TOKENS)
    except (GraphQLError, RecursionError):
        return None
    if len(document.definitions) != 1:
        return None
    operation = document.definitions[0]
    if not isinstance(operation, OperationDefinitionNode) or operation.operation != OperationType.MUTATION:
        return None
    if operation.directives or len(operation.variable_definitions or ()) != 1:
        return None
    definition = operation.variable_definitions[0]
    kind = definition.type
    if (definition.default_value is not None or definition.directives or not isinstance(kind, NonNullTypeNode)
            or isinstance(kind.type, ListTypeNode) or not isinstance(kind.type, NamedTypeNode)
            or kind.type.name.value != "RecordEventInput"):
        return None
    roots = operation.selection_set.selections
    if len(roots) != 1 or not isinstance(roots[0], FieldNode):
        return None
    root = roots[0]
    if root.name.value != "recordEvent" or root.directives or len(root.arguments or ()) != 1:
        return None
    argument = root.arguments[0]
    if argument.name.value != "input" or not isinstance(argument.value, VariableNode) \
            or argument.value.name.value != definition.variable.name.value:
        return None
    if root.selection_set is None:
        return None
    selection = []
    for node in root.selection_set.selections:
        if not isinstance(node, FieldNode) or not _plain(node) or node.name.value not in PAYLOAD_FIELDS:
            return None
        key = node.alias.value if node.alias else node.name.value
        if node.name.value == "event":
            if node.selection_set is None:
                return None
            sub = []
            for inner in node.selection_set.selections:
                if not isinstance(inner, FieldNode) or not _plain(inner) or inner.name.value not in EVENT_FIELDS \
                        or inner.selection_set is not None:
                    return None
                sub.append((inner.alias.value if inner.alias else inner.name.value, inner.name.value))
            selection.append((key, "event", tuple(sub)))
        else:
            if node.selection_set is not None:
                return None
            selection.append((key, node.name.value, None))
    # Valid as the schema's extensions would find it (graphql-core's rules and the limits).
    if validate(schema, document, rules):
        return None
    return Prepared(text, document, operation, operation.name.value if operation.name else None,
                    definition.variable.name.value, root.alias.value if root.alias else "recordEvent",
                    tuple(selection))


class PreparedDocuments:
    """The examined documents by text (accepted or not), least recently used out."""

    def __init__(self, maxsize: int = CACHE_SIZE):
        self.maxsize = maxsize
        self.entries: OrderedDict[str, Prepared | None] = OrderedDict()
        # Requests answered without the engine (tests, benchmarks).
        self.served = 0

    def get(self, text: str, schema) -> Prepared | None:
        try:
            found = self.entries[text]
        except KeyError:
            from .schema import LIMIT_RULES

            found = _examine(text, schema, [*specified_rules, *LIMIT_RULES])
            self.entries[text] = found
            while len(self.entries) > self.maxsize:
                self.entries.popitem(last=False)
            return found
        self.entries.move_to_end(text)
        return found


DOCUMENTS = PreparedDocuments()


def _answer(prepared: Prepared, payload) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, name, sub in prepared.selection:
        if name == "duplicate":
            out[key] = payload.duplicate
        elif name == "__typename":
            out[key] = "RecordEventPayload"
        else:
            event: dict[str, Any] = {}
            for inner_key, inner_name in sub or ():
                event[inner_key] = "Event" if inner_name == "__typename" else str(payload.event.row.id)
            out[key] = event
    return {prepared.root_key: out}


async def run_prepared(method: str, context, request_data, graphql_schema) -> ExecutionResult | None:
    """The answer of an accepted recordEvent request, or None: take
    Strawberry's path (with `context.replay_error` set when the mutation ran
    and raised)."""
    text = request_data.query
    if method != "POST" or not isinstance(text, str) or len(text) > MAX_TEXT or context.principal is None:
        return None
    try:
        ready = _ready(context, request_data, text, graphql_schema)
    except Exception:  # anything unforeseen before the mutation: the engine's path answers it
        log.exception("preparing a recordEvent failed; it takes the engine's path")
        return None
    if ready is None:
        return None
    prepared, value, cost = ready
    from .mutation import record_event_payload

    try:
        payload = await record_event_payload(context, value)
    except Exception as exc:  # answered by Strawberry's path, raised there again
        context.replay_error = exc
        return None
    DOCUMENTS.served += 1
    return ExecutionResult(data=_answer(prepared, payload), errors=None, extensions={"cost": cost})


def _ready(context, request_data, text: str, graphql_schema):
    """(prepared document, the input, the cost) of a request the path takes, or None."""
    prepared = DOCUMENTS.get(text, graphql_schema)
    if prepared is None:
        return None
    if request_data.operation_name is not None and request_data.operation_name != prepared.operation_name:
        return None
    variables = request_data.variables
    if variables is not None and not isinstance(variables, dict):
        return None
    coerced = get_variable_values(graphql_schema, prepared.operation.variable_definitions, variables or {})
    if isinstance(coerced, list):  # coercion errors: answered by Strawberry's path
        return None
    # The query cost extension's plan and price (app/graphql/cost.py).
    plan = PLANS.get(graphql_schema, text, prepared.document, request_data.operation_name)
    if plan is None:
        return None
    maximum = _max_cost(context)
    requested = evaluate(plan, variables)
    if requested > maximum:
        return None
    cost = {"requestedQueryCost": requested, "maxCost": maximum}
    from .inputs import RecordEventInput, _record_event_input

    value = _record_event_input(RecordEventInput, coerced.coerced[prepared.variable], None)
    context.cost = CostEstimate(requested, maximum, _has_report(plan))
    context.validated = True
    return prepared, value, cost

