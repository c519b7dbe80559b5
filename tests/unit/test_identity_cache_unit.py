"""IdentityCache's generations: what is held is used at its generation only."""
from __future__ import annotations

import uuid

from app.storage.identity_cache import IdentityCache

P, Q = uuid.UUID(int=1), uuid.UUID(int=2)
A, B = uuid.UUID(int=10), uuid.UUID(int=11)


def test_held_at_its_generation_only():
    cache = IdentityCache()
    cache.keep(P, 3, {"a": A})
    assert cache.at(P, 3) == {"a": A}
    assert cache.at(P, 4) == {}  # a newer generation: everything held is dropped
    assert cache.at(P, 3) is None  # an older flush: neither read nor filled
    cache.keep(P, 3, {"a": A})
    assert cache.at(P, 4) == {} and cache.held(P, "a") is None


def test_created_before_a_newer_generation_is_not_kept():
    cache = IdentityCache()
    cache.at(P, 5)
    cache.keep(P, 4, {"b": B})  # committed by a flush of generation 4 after one read 5
    assert cache.at(P, 5) == {}
    cache.keep(P, 6, {"b": B})
    assert cache.at(P, 6) == {"b": B}


def test_projects_and_bounds():
    cache = IdentityCache(max_identities=2, max_projects=1)
    cache.keep(P, 0, {"a": A, "b": B})
    cache.keep(P, 0, {"c": A})  # over the bound: the project's are dropped, the new ones held
    assert cache.at(P, 0) == {"c": A}
    cache.keep(Q, 0, {"a": A})  # one project at most: P goes
    assert cache.held(P, "c") is None and cache.held(Q, "a") == A
