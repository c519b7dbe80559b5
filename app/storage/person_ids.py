"""What storage knows of a person before the identity rules decide anything:
its deterministic id and the state the rules read. They live here, at the
bottom, because storage returns them and every layer above names them
(app/ingest/identity.py re-exports both)."""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PersonState:
    id: uuid.UUID
    identified: bool
    created_at: datetime


@functools.lru_cache(maxsize=65536)
def person_id_for(project_id: uuid.UUID, identity: str) -> uuid.UUID:
    """Deterministic id of the person first created for this identity.
    (Cached: every flush asks for each of its identities, mostly the same
    active people; a SHA-1 and a UUID each time were 5 % of a batch's CPU.)"""
    return uuid.uuid5(project_id, identity)
