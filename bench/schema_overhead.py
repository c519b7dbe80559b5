"""What the GraphQL schema's extensions cost per request, in-process: the
smallest operation (`{ __typename }`) executed through

  whodid      the schema as served (app/graphql/schema.py: the depth, alias and
              token limits, the parser and validation caches, error masking,
              the live hook)
  caches      the same types with only ParserCache and ValidationCache
  none        the same types with no extension (every request parsed and
              validated)

Mean µs per execution over `--runs`, after a warm-up; no HTTP, no database.

    .venv/bin/python -m bench.schema_overhead [--runs 20000]"""
from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

import strawberry
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache

from app.graphql.schema import schema
from . import common

QUERY = "query Q { __typename }"


async def per_execution_us(target: strawberry.Schema, runs: int) -> float:
    for _ in range(min(500, runs)):
        await target.execute(QUERY)
    started = time.perf_counter()
    for _ in range(runs):
        result = await target.execute(QUERY)
    assert result.errors is None, result.errors
    return (time.perf_counter() - started) / runs * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20_000)
    args = ap.parse_args()

    def same_types(extensions: list[Callable[[], SchemaExtension]]) -> strawberry.Schema:
        return strawberry.Schema(query=schema.query, mutation=schema.mutation, subscription=schema.subscription,
                                 config=schema.config, extensions=extensions)

    cases = {
        "whodid": schema,
        "caches": same_types([lambda: ParserCache(maxsize=1024), lambda: ValidationCache(maxsize=1024)]),
        "none": same_types([]),
    }
    rows = [[name, f"{asyncio.run(per_execution_us(target, args.runs)):.1f}"] for name, target in cases.items()]
    print(f"`{QUERY}`, mean of {args.runs:,} executions")
    print(common.table(["schema", "µs per execution"], rows))


if __name__ == "__main__":
    main()
