"""The identity rules of DESIGN.md §4 as pure functions."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from app.errors import BadInput
from app.ingest.identity import (
    REFUSED_IDENTITIES, Action, Outcome, PersonState, decide_alias, decide_identify, person_id_for,
    survivor_of, validate_identity,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def person(identified: bool, age_seconds: int = 0) -> PersonState:
    return PersonState(uuid.uuid4(), identified, T0 - timedelta(seconds=age_seconds))


def test_identify_both_unknown_creates_one_named_person():
    d = decide_identify(None, None)
    assert (d.outcome, d.action) == (Outcome.NAMED, Action.CREATE_WITH_BOTH)


def test_identify_unknown_anonymous_joins_known_user():
    user = person(False)
    d = decide_identify(None, user)
    assert (d.outcome, d.action, d.survivor) == (Outcome.MERGED, Action.ADD_TO_RIGHT, user.id)
    assert d.identify == (user.id,)


def test_identify_new_user_names_unidentified_anonymous_person():
    anon = person(False)
    d = decide_identify(anon, None)
    assert (d.outcome, d.action, d.survivor) == (Outcome.NAMED, Action.ADD_TO_LEFT, anon.id)
    assert d.identify == (anon.id,)


def test_identify_new_user_on_shared_browser_gets_own_person():
    anon = person(True)
    d = decide_identify(anon, None)
    assert (d.outcome, d.action) == (Outcome.NOT_MERGED, Action.CREATE_RIGHT)


def test_identify_same_person_is_unchanged_and_identified():
    p = person(False)
    d = decide_identify(p, p)
    assert (d.outcome, d.action, d.identify) == (Outcome.UNCHANGED, Action.NOTHING, (p.id,))


def test_identify_merges_unidentified_anonymous_into_user_even_if_older():
    anon, user = person(False, age_seconds=1000), person(True)
    d = decide_identify(anon, user)
    assert (d.outcome, d.action, d.survivor, d.loser) == (Outcome.MERGED, Action.MERGE, user.id, anon.id)


def test_identify_never_merges_two_identified_people():
    d = decide_identify(person(True), person(True))
    assert (d.outcome, d.action) == (Outcome.NOT_MERGED, Action.NOTHING)


def test_alias_order_does_not_matter_for_merge_survivor():
    a, b = person(True), person(False, age_seconds=50)
    for left, right in ((a, b), (b, a)):
        d = decide_alias(left, right, force=False)
        assert (d.outcome, d.survivor, d.loser) == (Outcome.MERGED, a.id, b.id)


def test_alias_two_unidentified_keeps_the_older():
    old, young = person(False, age_seconds=100), person(False)
    assert decide_alias(young, old, force=False).survivor == old.id


def test_alias_two_identified_needs_force():
    a, b = person(True, age_seconds=10), person(True)
    assert decide_alias(a, b, force=False).outcome is Outcome.NOT_MERGED
    forced = decide_alias(a, b, force=True)
    assert (forced.outcome, forced.survivor, forced.loser) == (Outcome.MERGED, a.id, b.id)


def test_alias_missing_side_is_added_to_the_other():
    p = person(True)
    assert decide_alias(None, p, force=False).action is Action.ADD_TO_RIGHT
    assert decide_alias(p, None, force=False).action is Action.ADD_TO_LEFT
    assert decide_alias(None, None, force=False).action is Action.CREATE_WITH_BOTH


def test_survivor_ties_break_on_id():
    a = PersonState(uuid.UUID(int=1), False, T0)
    b = PersonState(uuid.UUID(int=2), False, T0)
    assert survivor_of(b, a) == (a, b)


def test_person_ids_are_deterministic_per_project():
    project = uuid.uuid4()
    assert person_id_for(project, "x") == person_id_for(project, "x")
    assert person_id_for(project, "x") != person_id_for(uuid.uuid4(), "x")


@pytest.mark.parametrize("value", sorted(REFUSED_IDENTITIES) + ["NULL", " Anonymous ", "[Object Object]", "  "])
def test_squashing_identities_are_refused_for_linking(value):
    with pytest.raises(BadInput) as err:
        validate_identity("input.userId", value, for_linking=True)
    assert err.value.field == "input.userId"


def test_events_may_use_any_nonblank_identity():
    assert validate_identity("identity", "guest", for_linking=False) == "guest"
    with pytest.raises(BadInput, match="at most 255"):
        validate_identity("identity", "x" * 256, for_linking=False)
    with pytest.raises(BadInput, match="NUL"):
        validate_identity("identity", "a\x00b", for_linking=False)
