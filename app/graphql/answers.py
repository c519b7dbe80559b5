"""Whole answers of report queries, kept per process while every report they
were made from is a cache hit.

A cached report still cost its request the GraphQL engine's walk over the
answer (hundreds of fields: ~1-3 ms of CPU, docs/benchmarks.md), though the
answer cannot differ from the last one: the same document and variables over
the same cached report values give the same answer. So a query is kept as
its answer (`data` and `extensions`) when:

- its one operation is a query whose root fields are all reports (funnel,
  cohort, revenueReport, trends, stickiness, lifecycle, paths);
- it was answered without errors, every report it read was a hit of the
  report cache (`cached: true`), and no resolver read live data beside the
  reports (the people of a people list: `Context.live_reads`);
- under the key (project, role, the project's report generation, document,
  operation name, variables): a removal (deletePerson, retention) changes the
  generation as for the report cache (app/reports/generations.py);
- until the earliest of its reports' entries expires (computedAt + the
  report TTL), never longer.

A kept answer is the one the engine would give as long as those entries live
(each report's value, computedAt and `cached` are those of its entry). The
report cache's hit counters still count each report it stands for.
"""
from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from strawberry.types import ExecutionResult

from ..reports.service import REPORTS_SEEN, Seen

REPORT_FIELDS = frozenset({"funnel", "cohort", "revenueReport", "trends", "stickiness", "lifecycle", "paths"})
MAX_TEXT = 16 * 1024
MAX_ENTRIES = 1000
# The kept answers of a process take at most this many bytes (as JSON); one
# answer larger than a tenth of it is not kept.
MAX_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class _Kept:
    data: Any
    extensions: dict | None
    cost: Any
    kinds: tuple[str, ...]
    expires: float  # time.monotonic()
    size: int  # bytes as JSON


class ReportAnswers:
    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._documents: OrderedDict[str, bool] = OrderedDict()
        self._kept: OrderedDict[tuple, _Kept] = OrderedDict()
        self.hits = 0
        self.stored = 0

    def _reports_only(self, text: str) -> bool:
        known = self._documents.get(text)
        if known is None:
            known = _reports_only(text)
            self._documents[text] = known
            while len(self._documents) > self.max_entries:
                self._documents.popitem(last=False)
        return known

    async def key(self, context, request_data) -> tuple | None:
        """The key of a request that may be kept, or None."""
        services = context.services
        text = request_data.query
        if (services.reports is None or services.settings.report_ttl <= 0 or context.principal is None
                or not isinstance(text, str) or len(text) > MAX_TEXT or not self._reports_only(text)):
            return None
        variables = request_data.variables
        if variables is not None and not isinstance(variables, dict):
            return None
        try:
            encoded = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None
        principal = context.principal
        generation = await services.reports.generations.get(principal.project_id)
        return (principal.project_id, principal.role, generation, text, request_data.operation_name, encoded)

    def get(self, key: tuple, context) -> ExecutionResult | None:
        kept = self._kept.get(key)
        if kept is None:
            return None
        if kept.expires <= time.monotonic():
            self._drop(key)
            return None
        self._kept.move_to_end(key)
        self.hits += 1
        TOTALS["hits"] += 1
        context.cost = kept.cost
        context.validated = True
        context.services.reports.observe_hits(kept.kinds)
        return ExecutionResult(data=kept.data, errors=None, extensions=kept.extensions)

    def put(self, key: tuple, context, result, seen: list[Seen]) -> None:
        if (getattr(result, "errors", None) or not isinstance(result, ExecutionResult) or result.data is None
                or not seen or not all(s.cached for s in seen) or context.live_reads):
            return
        ttl = context.services.settings.report_ttl
        oldest = min(s.computed_at for s in seen)
        left = ttl - (datetime.now(timezone.utc) - oldest).total_seconds()
        if left <= 0:
            return
        size = len(orjson.dumps(result.data))
        if size > self.max_bytes // 10:
            return
        if key in self._kept:
            self._drop(key)
        self._kept[key] = _Kept(result.data, result.extensions, context.cost, tuple(s.kind for s in seen),
                                time.monotonic() + left, size)
        self.bytes += size
        self.stored += 1
        TOTALS["stored"] += 1
        while len(self._kept) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._kept)))

    def _drop(self, key: tuple) -> None:
        self.bytes -= self._kept.pop(key).size

    def clear(self) -> None:
        self._kept.clear()
        self.bytes = 0


def _reports_only(text: str) -> bool:
    """Whether the document is one query whose root fields are all reports
    (no fragment at the root, no directive there)."""
    from .schema import MAX_TOKENS

    try:
        document = parse(text, max_tokens=MAX_TOKENS)
    except (GraphQLError, RecursionError):
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation != OperationType.QUERY:
        return False
    roots = operations[0].selection_set.selections
    return bool(roots) and all(
        isinstance(node, FieldNode) and node.name.value in REPORT_FIELDS and not node.directives for node in roots)


# The kept answers of each report service (one per app, so per process in a
# server; the settings they were checked under, such as the maximum cost,
# are that app's).
_BY_SERVICE: weakref.WeakKeyDictionary[Any, ReportAnswers] = weakref.WeakKeyDictionary()
# Answers kept and answered, over every app of the process (tests, benchmarks).
TOTALS = {"stored": 0, "hits": 0}


def answers_of(reports) -> ReportAnswers:
    answers = _BY_SERVICE.get(reports)
    if answers is None:
        answers = _BY_SERVICE[reports] = ReportAnswers()
    return answers


async def answered(context, request_data, execute) -> Any:
    """`execute(request_data)`, or the kept answer of the same request."""
    reports = context.services.reports
    if reports is None:
        return await execute(request_data)
    answers = answers_of(reports)
    try:
        key = await answers.key(context, request_data)
    except Exception:  # the generation could not be read (database away): answered as without keeping
        key = None
    if key is None:
        return await execute(request_data)
    kept = answers.get(key, context)
    if kept is not None:
        return kept
    seen: list[Seen] = []
    token = REPORTS_SEEN.set(seen)
    try:
        result = await execute(request_data)
    finally:
        REPORTS_SEEN.reset(token)
    answers.put(key, context, result, seen)
    return result
