"""The one retry policy of every write: the group-commit writer's flushes and
identify/alias's links retry the same conflicts (a deadlock, a serialization
failure, a unique violation: someone created the same identity meanwhile, or
the rules' own "decide again") after the same short, growing pause."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg


class Conflict(Exception):
    """Another transaction changed what this one read (an identity created or
    moved meanwhile): run it again from the start."""


RETRYABLE: tuple[type[BaseException], ...] = (
    asyncpg.DeadlockDetectedError, asyncpg.SerializationError, asyncpg.UniqueViolationError, Conflict,
)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    step: float = 0.002  # seconds: the pause after attempt n is step * (n + 1)

    async def pause(self, attempt: int) -> None:
        await asyncio.sleep(self.step * (attempt + 1))


# A flush holds a whole group of requests: it retries less before isolating them.
FLUSH = RetryPolicy(attempts=8)
# A link locks two identities that concurrent events and links keep touching.
LINK = RetryPolicy(attempts=20)
