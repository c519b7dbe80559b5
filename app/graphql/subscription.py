"""Subscription.liveEvents: committed events of the caller's project, in commit
order, from this process's live bus (app/live/bus.py).

Drops: a subscriber that reads too slowly loses the oldest queued events. The
next event it gets says so in its result's extensions:

    {"data": {"liveEvents": {...}}, "extensions": {"live": {"dropped": 12, "droppedTotal": 40}}}

`dropped` counts the events lost just before this one, `droppedTotal` over the
whole subscription. Results without drops carry no `live` extension.

How: each operation runs in its own asyncio task and the event stream is
iterated inside it, so the stream sets a context variable right before it
yields an event, and LiveExtensions (a schema extension, per-operation) reads
it when Strawberry builds that very result's extensions.

Cost: executing a selection set on one event takes graphql-core and Strawberry
some 250 µs, paid for every event and every subscriber. LiveExecutionContext
(the schema's executor; it behaves exactly like Strawberry's for everything
else) cuts it twice:
- an event is executed once per distinct (document, variables, project, role)
  in the process and the result handed to every subscriber that asks for it
  next (a small LRU of recent results);
- a selection of plain leaf fields of Event (the usual subscription: any
  aliases, fragments, directives, __typename) is completed directly with the
  fields' own resolvers and scalar serializers, in ~10 µs; anything else
  (arguments, extensions, nested objects, an error) takes graphql-core's path.
tests/live/test_execution.py checks both paths give identical results.

Fan-out: over WebSocket, what remains per subscriber and event is Strawberry's
machinery around each result (three async generators, the extensions' hooks,
the message dict, its JSON encoding), some 100 µs: with 50 subscribers that
was most of a worker. So a subscription served by whodid's protocol handlers
(app/graphql/view.py puts a LiveSink in LIVE_SINK for the operation's task)
sends its first event through Strawberry as before, and every later event
whose result the direct path completes as a text frame of its own: the
`data` JSON is encoded once per (signature, event) and shared by every
subscriber of that signature (the same bytes Strawberry's path would send:
tests/live/test_direct_frames.py compares them, both protocols); the frame adds the operation id and, after drops, the `live`
extension. Anything else (no sink, no plan, an event the direct path cannot
complete) is yielded to Strawberry as before."""
from __future__ import annotations

import inspect
import logging
from collections import OrderedDict
from contextvars import ContextVar
from typing import Any, AsyncGenerator, Awaitable, Callable, Optional

import orjson
import strawberry
from graphql import (
    GraphQLField, GraphQLObjectType, OperationType, Undefined, get_nullable_type, is_leaf_type, is_non_null_type,
    print_ast,
)
from graphql.execution import ExecutionResult as GraphQLExecutionResult
from graphql.execution.collect_fields import collect_fields
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

from ..errors import BadInput, Unavailable
from .context import Context
from .inputs import LiveEventFilter
from .types import Event

Info = strawberry.Info[Context, None]
log = logging.getLogger("whodid.live")

MAX_NAMES = 100
MAX_TEXT = 255

# (dropped just before this event, dropped since the subscription began)
_DROPPED: ContextVar[Optional[tuple[int, int]]] = ContextVar("whodid_live_dropped", default=None)


class LiveExtensions(SchemaExtension):
    """Adds `extensions.live` to the subscription result that follows drops."""

    def get_results(self) -> dict:
        dropped = _DROPPED.get()
        if dropped is None:
            return {}
        return {"live": {"dropped": dropped[0], "droppedTotal": dropped[1]}}


# Results of recent (signature, event id) executions, shared by subscribers.
SHARED_RESULTS = 2048
_results: OrderedDict = OrderedDict()
# The JSON text of their `data`, for the frames the direct path sends.
_texts: OrderedDict = OrderedDict()

# The executor of the subscription whose event is being executed (set by
# LiveExecutionContext.build_per_event_executor in the operation's task, read
# by the event stream right after it yielded that event).
_EXECUTOR: ContextVar[Optional["LiveExecutionContext"]] = ContextVar("whodid_live_executor", default=None)


class LiveSink:
    """How the WebSocket operation running a subscription sends one result
    itself, framed exactly as its protocol handler frames a result:
    `prefix` + payload + `}` (prefix: `{"id":...,"type":"next","payload":` for
    graphql-transport-ws, `{"type":"data","id":...,"payload":` for graphql-ws).
    `send_text(text)` sends a text frame (raising as the handler's send would);
    `is_open()` is False once the operation must not send results any more."""

    __slots__ = ("send_text", "prefix", "is_open")

    def __init__(self, send_text: Callable[[str], Awaitable[None]], prefix: str,
                 is_open: Callable[[], bool] = lambda: True):
        self.send_text = send_text
        self.prefix = prefix
        self.is_open = is_open

    async def send(self, data_text: str, dropped: int, dropped_total: int) -> None:
        if not self.is_open():
            return
        if dropped:  # LiveExtensions' result, as Strawberry adds it
            extensions = ',"extensions":{"live":{"dropped":%d,"droppedTotal":%d}}}' % (dropped, dropped_total)
        else:
            extensions = "}"
        await self.send_text(self.prefix + '{"data":' + data_text + extensions + "}")


# The direct path on or off (off: every event through Strawberry; read when a
# subscription starts; tests compare the two).
DIRECT_FRAMES = True
# Set by the WebSocket protocol handlers for each operation's task.
LIVE_SINK: ContextVar[Optional[LiveSink]] = ContextVar("whodid_live_sink", default=None)


def _signature(executor: StrawberryGraphQLCoreExecutionContext) -> tuple:
    """Everything besides the event that a subscription result depends on."""
    principal = getattr(executor.context_value, "principal", None)
    variables = getattr(executor.variable_values, "coerced", executor.variable_values)
    return (
        id(executor.schema),
        print_ast(executor.operation),
        tuple(sorted(print_ast(getattr(f, "definition", f)) for f in (executor.fragments or {}).values())),
        orjson.dumps(variables, option=orjson.OPT_SORT_KEYS, default=str),
        principal.project_id if principal else None,
        principal.role if principal else None,
    )


_NO_PLAN = object()


def _remember(key: tuple, result: GraphQLExecutionResult) -> None:
    _results[key] = result
    if len(_results) > SHARED_RESULTS:
        _results.popitem(last=False)


class _Done:
    """Stands in for a per-event executor when the event's result is known."""

    __slots__ = ("result",)

    def __init__(self, result: GraphQLExecutionResult):
        self.result = result

    def execute_operation(self, serially: Optional[bool] = None) -> GraphQLExecutionResult:
        return self.result


def _leaf_getter(gql_field: GraphQLField) -> Optional[Callable[[Any], Any]]:
    """fn(event) computing a field the way Strawberry's resolver would, when
    the field is a plain one: a leaf type, no arguments, no field extensions
    or permissions, and a resolver that is `def field(self)` (or none)."""
    if gql_field.args or not is_leaf_type(get_nullable_type(gql_field.type)):
        return None
    field = (gql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if field is None or field.extensions or getattr(field, "permission_classes", None):
        return None
    resolver = field.base_resolver
    if resolver is None:
        name = field.python_name
        return lambda event: getattr(event, name)
    if resolver.is_async or resolver.arguments:
        return None
    func = resolver.wrapped_func
    try:
        parameters = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return None
    if parameters != ["self"]:
        return None
    return func


def _event_plan(executor: "LiveExecutionContext"):
    """For the common `subscription { liveEvents { <leaf fields of Event> } }`
    (any aliases, fragments, @include/@skip, __typename): the response key of
    the root field and (key, getter, leaf type, non-null) per selected field,
    so that an event is completed without graphql-core's general machinery.
    None when the selection has anything else (it then executes normally)."""
    manager = executor.middleware_manager
    if manager is not None and getattr(manager, "middlewares", True):  # extensions wrap every resolver
        return None
    schema = executor.schema
    root_type = schema.subscription_type
    collected = collect_fields(schema, executor.fragments, executor.variable_values, root_type,
                               executor.operation, executor.hide_suggestions)
    if collected.new_defer_usages or len(collected.grouped_field_set) != 1:
        return None
    ((root_key, details),) = collected.grouped_field_set.items()
    root_field = root_type.fields.get(details[0].node.name.value)
    if root_field is None:
        return None
    event_type = get_nullable_type(root_field.type)
    if not isinstance(event_type, GraphQLObjectType) or event_type.name != "Event":
        return None
    sub = executor.collect_subfields(event_type, details)
    if sub.new_defer_usages:
        return None
    plan = []
    for key, field_details in sub.grouped_field_set.items():
        name = field_details[0].node.name.value
        if name == "__typename":
            plan.append((key, None, event_type.name, True))
            continue
        gql_field = event_type.fields.get(name)
        getter = _leaf_getter(gql_field) if gql_field is not None else None
        if getter is None:
            return None
        plan.append((key, getter, get_nullable_type(gql_field.type), is_non_null_type(gql_field.type)))
    return root_key, plan


class LiveExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, plus, for subscription events that are `Event`s:
    each event is executed once per subscription signature and the result
    shared; and a selection of plain leaf fields is completed directly."""

    _live_signature: Any = None
    _live_plan: Any = None

    def build_per_event_executor(self, payload: Any):
        if isinstance(payload, Event):
            _EXECUTOR.set(self)
            if self._live_signature is None:
                try:  # once per subscription
                    self._live_signature = _signature(self)
                    self._live_plan = _event_plan(self) or _NO_PLAN
                except Exception:  # anything unexpected: the general path, unshared
                    log.exception("live: cannot share or shortcut this subscription's execution")
                    self._live_signature, self._live_plan = _NO_PLAN, _NO_PLAN
            if self._live_signature is not _NO_PLAN:
                key = (self._live_signature, payload.row.id)
                result = _results.get(key)
                if result is None and self._live_plan is not _NO_PLAN:
                    result = self._complete_directly(payload)
                    if result is not None:
                        _remember(key, result)
                if result is not None:
                    return _Done(result)  # no per-event copy of the executor needed
        executor = super().build_per_event_executor(payload)
        # graphql-core 3.3 memoizes sub-field collection in a dict that the
        # per-event copies share with the subscription's executor, keyed by
        # the id of a list made afresh for every event: it never hits across
        # events and grows by an entry per event for the subscription's whole
        # life. Each event gets its own memo, freed with the event.
        if hasattr(executor, "_relevant_sub_fields"):
            executor._relevant_sub_fields = {}
        return executor

    def shares_directly(self) -> bool:
        """Whether this subscription's events can be completed directly and
        shared (known once its first event was executed)."""
        signature = self._live_signature
        return signature is not None and signature is not _NO_PLAN and self._live_plan is not _NO_PLAN

    def data_text(self, row: Any) -> Optional[str]:
        """The JSON text of the result `data` of the event `row` (as the
        WebSocket view encodes it), once per signature and event; None when
        the direct path cannot complete it (it then takes Strawberry's path)."""
        key = (self._live_signature, row.id)
        text = _texts.get(key)
        if text is None:
            result = _results.get(key)
            if result is None:
                result = self._complete_directly(Event(row=row))
                if result is None:
                    return None
                _remember(key, result)
            text = orjson.dumps(result.data).decode()
            _texts[key] = text
            if len(_texts) > SHARED_RESULTS:
                _texts.popitem(last=False)
        return text

    def execute_operation(self, serially: Optional[bool] = None):
        # Events the direct path could not complete: graphql-core's general
        # execution, whose result is shared like the others.
        signature = self._live_signature
        root = self.root_value
        result = super().execute_operation(serially)
        if (signature is not None and signature is not _NO_PLAN and isinstance(root, Event)
                and self.operation.operation == OperationType.SUBSCRIPTION
                and not self.is_awaitable(result) and not result.errors):
            _remember((signature, root.row.id), result)
        return result

    def _complete_directly(self, event: Event) -> Optional[GraphQLExecutionResult]:
        """The result graphql-core would build, for a plan of leaf fields;
        None (execute normally, errors and all) on anything unusual."""
        root_key, plan = self._live_plan
        data = {}
        try:
            for key, getter, leaf_type, non_null in plan:
                if getter is None:  # __typename
                    data[key] = leaf_type
                    continue
                value = getter(event)
                if value is None:
                    if non_null:
                        return None
                    data[key] = None
                    continue
                serialized = leaf_type.serialize(value)
                if serialized is None or serialized is Undefined:
                    return None
                data[key] = serialized
        except Exception:
            return None
        return GraphQLExecutionResult(data={root_key: data}, errors=None)


def _filter(where: Optional[LiveEventFilter]) -> tuple[Optional[list[str]], Optional[str]]:
    if where is None:
        return None, None
    names = where.names
    if names is not None:
        if len(names) > MAX_NAMES:
            raise BadInput("where.names", f"at most {MAX_NAMES} names")
        for i, name in enumerate(names):
            if not name or len(name) > MAX_TEXT:
                raise BadInput(f"where.names[{i}]", "an event name is 1-255 characters")
    identity = where.identity
    if identity is not None and (not identity or len(identity) > MAX_TEXT):
        raise BadInput("where.identity", "an identity is 1-255 characters")
    return names, identity


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Events as they are committed, in commit order, for the caller's project."
    )
    async def live_events(
        self, info: Info, where: Optional[LiveEventFilter] = None
    ) -> AsyncGenerator[Event, None]:
        principal = info.context.require_read()
        names, identity = _filter(where)
        bus = info.context.services.live
        if bus is None:
            raise Unavailable("live events are not enabled in this process")
        sub = await bus.subscribe(principal.project_id, names=names, identity=identity)
        sink = LIVE_SINK.get() if DIRECT_FRAMES else None
        direct: Optional[LiveExecutionContext] = None  # known after the first event
        try:
            while True:
                item = await sub.get()
                if item is None:  # the bus closed (server shutting down)
                    return
                row, dropped = item
                if direct is not None and sink is not None:
                    text = direct.data_text(row)
                    if text is not None:
                        await sink.send(text, dropped, sub.dropped_total)
                        continue
                event = Event(row=row)
                _DROPPED.set((dropped, sub.dropped_total) if dropped else None)
                _EXECUTOR.set(None)
                yield event
                if sink is not None and direct is None:
                    executor = _EXECUTOR.get()
                    if executor is not None and executor.shares_directly():
                        direct = executor
                    else:
                        sink = None  # Strawberry's path for the whole subscription
        finally:
            _DROPPED.set(None)
            bus.unsubscribe(sub)
