"""Each identity's person, held in the writer's process on Citus, so that a
flush of known identities does not ask the identities' shards (one
distributed statement of a few ms on the cluster: docs/benchmarks.md §16.6).

Why it is exact (docs/scaling.md, "How writes work on Citus"): every change
or removal of an identity row that exists (a merge, the deletion of a person
or of the project) happens under the project's *exclusive* lock on the
coordinator and grows the project's identity generation in its transaction
(`cluster.identities_changed`). A flush takes the project's *shared* lock and
then reads the generation, in its first statement (`whodid_flush_start`,
db/migrations/0014_citus_identity_generations.sql). So no such change can
commit between that read and the flush's commit, and every one that committed
before it shows in the generation read. What is held was read from the
identities (or created there by a committed flush) at one generation, and is
used only by a flush that read that same generation; a flush that reads a
newer one drops what was held for the project first. A person in a process
that never writes to the project is simply not held.

On plain PostgreSQL nothing is held: the writer's one statement resolves the
identities under their row locks."""
from __future__ import annotations

import uuid


class IdentityCache:
    """identity -> person id per project, as of one identity generation."""

    def __init__(self, *, max_identities: int = 100_000, max_projects: int = 1_000):
        self.max_identities = max_identities
        self.max_projects = max_projects
        self._projects: dict[uuid.UUID, tuple[int, dict[str, uuid.UUID]]] = {}

    def at(self, project_id: uuid.UUID, generation: int) -> dict[str, uuid.UUID] | None:
        """What is held for the project at `generation` (read under its shared
        lock), to read and to fill; None for a generation older than one seen
        already (neither to read nor to fill)."""
        held = self._projects.get(project_id)
        if held is not None:
            if held[0] == generation:
                return held[1]
            if held[0] > generation:
                return None
        if held is None and len(self._projects) >= self.max_projects:
            del self._projects[next(iter(self._projects))]  # the longest held
        persons: dict[str, uuid.UUID] = {}
        self._projects[project_id] = (generation, persons)
        return persons

    def keep(self, project_id: uuid.UUID, generation: int, persons: dict[str, uuid.UUID]) -> None:
        """Hold these identities' persons, read (or created and committed) at
        `generation`: only if that is still the project's generation here."""
        held = self.at(project_id, generation)
        if held is None:
            return
        if len(held) + len(persons) > self.max_identities:
            held.clear()  # a bound, not an eviction policy: the next flushes read them again
        held.update(persons)

    def held(self, project_id: uuid.UUID, identity: str) -> uuid.UUID | None:
        """The person held for the identity at the latest generation seen (tests)."""
        held = self._projects.get(project_id)
        return None if held is None else held[1].get(identity)
