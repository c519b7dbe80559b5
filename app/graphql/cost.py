"""Query cost (DESIGN.md §7; the model is documented in docs/api.md).

Before a query runs, its cost is estimated from the selection alone:

- every field resolved costs 1, a report field (a root field whose type is a
  `…Report`) costs REPORT_WEIGHT, a mutation field MUTATION_WEIGHT;
- a field's cost is paid once per parent object: a list multiplies the cost of
  everything selected under it by its size;
- a list's size is its `first` argument, or, for the `nodes` of a connection,
  the connection's `first`; an argument left out counts with the schema's
  default (`people` 50), a variable with its value (else its default); sizes
  are capped at the page-size limit (anything larger is refused anyway);
  a list without `first` (a report's rows, a person's identities) counts
  UNPAGED_LIST_SIZE;
- fields with the same response key are merged as the executor merges them;
  introspection fields count 1 each and are not descended into (they are
  answered from memory, bounded by the depth and token limits).

The estimate is compiled once per (document text, operation name) into a small
plan (a tree of weights and sizes, sizes possibly variables) and cached like
the validation cache; a request then only evaluates the plan with its
variables. A query whose cost is above the maximum (WHODID_MAX_QUERY_COST) is
refused before execution with `QUERY_TOO_COSTLY`; every answer to a valid
query or mutation carries `extensions.cost {requestedQueryCost, maxCost}`.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from threading import Lock
from typing import Union

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)
from graphql.pyutils import Undefined
from strawberry.extensions import SchemaExtension

from .pagination import MAX_PAGE_SIZE

REPORT_WEIGHT = 1000
MUTATION_WEIGHT = 10
UNPAGED_LIST_SIZE = 10
DEFAULT_MAX_COST = 50_000
PLAN_CACHE_SIZE = 1024

COST_CODE = "QUERY_TOO_COSTLY"


@dataclass(frozen=True)
class VariableSize:
    """A list size given by a variable: its value when sent, else `fallback`."""

    name: str
    fallback: int


Size = Union[int, VariableSize]


@dataclass(frozen=True)
class Node:
    weight: int
    size: Size  # how many times the children are resolved per resolution of this field
    children: tuple["Node", ...]
    # The cost of one resolution of the children when no variable sizes it
    # (folded at compile time: evaluating a plan then only walks the variable parts).
    fixed: int | None = None


def _node(weight: int, size: Size, children: tuple[Node, ...]) -> Node:
    variable = any(isinstance(c.size, VariableSize) or (c.children and c.fixed is None) for c in children)
    return Node(weight, size, children, None if variable else evaluate(children, None))


# ---------------------------------------------------------------- compiling


def _unwrap(gql_type):
    while isinstance(gql_type, GraphQLNonNull):
        gql_type = gql_type.of_type
    return gql_type


def _is_list(gql_type) -> bool:
    return isinstance(_unwrap(gql_type), GraphQLList)


def _named(gql_type):
    gql_type = _unwrap(gql_type)
    while isinstance(gql_type, (GraphQLList, GraphQLNonNull)):
        gql_type = gql_type.of_type
    return gql_type


@lru_cache(maxsize=4096)
def _field_facts(owner, name: str):
    """(definition, named type, is a list) of a field of an object type, or None."""
    if not isinstance(owner, GraphQLObjectType):
        return None
    definition = owner.fields.get(name)
    if definition is None:
        return None
    return definition, _named(definition.type), _is_list(definition.type)


def _clamp(value: object, fallback: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return fallback
    return max(0, min(value, MAX_PAGE_SIZE))


class _Compiler:
    def __init__(self, schema: GraphQLSchema, document, operation: OperationDefinitionNode):
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.variable_defaults: dict[str, object] = {}
        for definition in operation.variable_definitions or ():
            default = definition.default_value
            self.variable_defaults[definition.variable.name.value] = (
                int(default.value) if isinstance(default, IntValueNode) else None
            )
        self.operation = operation

    def root(self) -> tuple[Node, ...]:
        kind = self.operation.operation
        root_type = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }[kind]
        return self._selection(root_type, [self.operation.selection_set], None, root=kind)

    def _collect(self, parent, selection_sets, into: dict, visited: set) -> None:
        for selection_set in selection_sets:
            if selection_set is None:
                continue
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    into.setdefault(key, []).append((selection, parent))
                elif isinstance(selection, InlineFragmentNode):
                    owner = parent
                    if selection.type_condition is not None:
                        owner = self.schema.get_type(selection.type_condition.name.value) or parent
                    self._collect(owner, [selection.selection_set], into, visited)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if fragment is None or name in visited:
                        continue
                    visited.add(name)
                    owner = self.schema.get_type(fragment.type_condition.name.value) or parent
                    self._collect(owner, [fragment.selection_set], into, visited)

    def _selection(self, parent, selection_sets: list[SelectionSetNode], connection_size: Size | None,
                   root: OperationType | None = None) -> tuple[Node, ...]:
        groups: dict[str, list] = {}
        self._collect(parent, selection_sets, groups, set())
        nodes = []
        for group in groups.values():
            field, owner = group[0]
            name = field.name.value
            if name.startswith("__"):
                nodes.append(_node(0 if name == "__typename" else 1, 0, ()))
                continue
            facts = _field_facts(owner, name)
            if facts is None:  # an abstract owner: not in this schema; count the field itself
                nodes.append(_node(1, 0, ()))
                continue
            definition, named, is_list = facts
            weight = 1
            if root is OperationType.QUERY and named.name.endswith("Report"):
                weight = REPORT_WEIGHT
            elif root is OperationType.MUTATION:
                weight = MUTATION_WEIGHT
            first = self._first(field, definition)
            if is_list:
                size: Size = first if first is not None else (
                    connection_size if connection_size is not None else UNPAGED_LIST_SIZE)
                below = None
            else:
                size = 1
                below = first  # a connection: its `nodes` get this size
            children: tuple[Node, ...] = ()
            subsets = [f.selection_set for f, _ in group if f.selection_set is not None]
            if subsets and isinstance(named, GraphQLObjectType):
                children = self._selection(named, subsets, below)
            nodes.append(_node(weight, size, children))
        return tuple(nodes)

    def _first(self, field: FieldNode, definition) -> Size | None:
        argument = definition.args.get("first")
        if argument is None:
            return None
        default = argument.default_value
        fallback = _clamp(default, UNPAGED_LIST_SIZE) if default is not Undefined else UNPAGED_LIST_SIZE
        for node in field.arguments or ():
            if node.name.value != "first":
                continue
            value = node.value
            if isinstance(value, IntValueNode):
                return _clamp(int(value.value), fallback)
            if isinstance(value, VariableNode):
                name = value.name.value
                declared = self.variable_defaults.get(name)
                return VariableSize(name, _clamp(declared, fallback) if declared is not None else fallback)
            return fallback
        return fallback


def compile_plan(schema: GraphQLSchema, document, operation_name: str | None) -> tuple[Node, ...] | None:
    """The plan of the operation to run, or None when there is no single one
    (validation or execution reports that)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [d for d in operations if d.name is not None and d.name.value == operation_name]
    if len(operations) != 1:
        return None
    return _Compiler(schema, document, operations[0]).root()


def evaluate(nodes: tuple[Node, ...], variables: dict | None) -> int:
    variables = variables or {}
    total = 0
    for node in nodes:
        size = node.size
        if isinstance(size, VariableSize):
            size = _clamp(variables.get(size.name, size.fallback), size.fallback)
        total += node.weight
        if node.children and size:
            total += size * (node.fixed if node.fixed is not None else evaluate(node.children, variables))
    return total


# ---------------------------------------------------------------- the cache of plans


class PlanCache:
    """Plans by (document text, operation name), least recently used out."""

    def __init__(self, maxsize: int = PLAN_CACHE_SIZE):
        self.maxsize = maxsize
        self.entries: OrderedDict = OrderedDict()
        self.lock = Lock()
        self.hits = 0
        self.misses = 0

    def get(self, schema: GraphQLSchema, text: str, document, operation_name: str | None):
        key = (text, operation_name)
        with self.lock:
            plan = self.entries.get(key)
            if plan is not None:
                self.entries.move_to_end(key)
                self.hits += 1
                return plan
        plan = compile_plan(schema, document, operation_name)
        with self.lock:
            self.misses += 1
            self.entries[key] = plan
            while len(self.entries) > self.maxsize:
                self.entries.popitem(last=False)
        return plan


PLANS = PlanCache()


# ---------------------------------------------------------------- the extension


def _max_cost(context) -> int:
    services = getattr(context, "services", None)
    settings = getattr(services, "settings", None)
    return getattr(settings, "max_query_cost", DEFAULT_MAX_COST)


class QueryCost(SchemaExtension):
    """Computes the cost right after validation (ValidationCache, listed
    before this extension, has validated when this hook starts) and refuses a
    query above the maximum before it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.cost: dict | None = None

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.pre_execution_errors == [] and context.graphql_document is not None and context.query:
            plan = PLANS.get(context.schema._schema, context.query, context.graphql_document,
                             context.operation_name)
            if plan is not None:
                maximum = _max_cost(context.context)
                requested = evaluate(plan, context.variables)
                self.cost = {"requestedQueryCost": requested, "maxCost": maximum}
                owner = context.context
                if owner is not None and hasattr(owner, "cost"):
                    owner.cost = CostEstimate(requested, maximum, _has_report(plan))
                if requested > maximum:
                    context.pre_execution_errors = [GraphQLError(
                        f"query cost {requested} is above the maximum of {maximum}: ask for fewer items "
                        f"(smaller `first`, fewer nested lists or aliases) or split the query",
                        extensions={"code": COST_CODE, "cost": dict(self.cost)},
                    )]
        yield

    def get_results(self) -> dict:
        if self.cost is None:
            return {}
        try:
            if getattr(self.execution_context.operation_type, "value", None) == "subscription":
                return {}  # not on every event of a subscription
        except RuntimeError:
            return {}
        return {"cost": self.cost}


@dataclass(frozen=True)
class CostEstimate:
    requested: int
    maximum: int
    reports: bool  # whether the operation selects a report field


def _has_report(plan: tuple[Node, ...]) -> bool:
    return any(node.weight == REPORT_WEIGHT for node in plan)
