"""The identity rules of DESIGN.md §4 as pure functions: given what the two
identities resolve to now, decide what identify or alias does. The storage
layer carries the decision out inside one transaction."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import Enum

from ..errors import BadInput
# PersonState and person_id_for live in storage (it returns them); named here too, as before.
from ..storage.person_ids import PersonState, person_id_for  # noqa: F401

MAX_IDENTITY_LENGTH = 255

# Values that would squash unrelated people into one if accepted as identities
# (the same guard as PostHog's); compared case-insensitively after trimming.
REFUSED_IDENTITIES = frozenset(
    {
        "anonymous", "null", "undefined", "none", "nil", "0", "-1", "guest", "true", "false",
        "nan", "[object object]", "distinct_id", "id", "email", "not_authenticated",
    }
)


class Outcome(str, Enum):
    NAMED = "NAMED"
    MERGED = "MERGED"
    UNCHANGED = "UNCHANGED"
    NOT_MERGED = "NOT_MERGED"


class Action(str, Enum):
    CREATE_WITH_BOTH = "create_with_both"   # one new identified person holding both identities
    ADD_TO_LEFT = "add_to_left"             # the right identity joins the left's person
    ADD_TO_RIGHT = "add_to_right"           # the left identity joins the right's person
    CREATE_RIGHT = "create_right"           # the right identity gets a new identified person
    MERGE = "merge"                         # loser's everything moves to survivor
    NOTHING = "nothing"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    action: Action
    # The person that ends up named by the right-hand identity (None: created).
    survivor: uuid.UUID | None = None
    loser: uuid.UUID | None = None
    # Person ids to mark identified after the action.
    identify: tuple[uuid.UUID, ...] = ()


def validate_identity(field: str, value: str, *, for_linking: bool) -> str:
    """Refuse identities that are blank, too long, contain NUL, or (when they
    are used to link people) belong to the squash list."""
    if not isinstance(value, str) or not value.strip():
        raise BadInput(field, "an identity must be a non-blank string")
    if len(value) > MAX_IDENTITY_LENGTH:
        raise BadInput(field, f"an identity is at most {MAX_IDENTITY_LENGTH} characters (got {len(value)})")
    if "\x00" in value:
        raise BadInput(field, "an identity may not contain the NUL character")
    if for_linking and value.strip().lower() in REFUSED_IDENTITIES:
        raise BadInput(
            field,
            f"{value!r} is refused as an identity to link: it would merge unrelated people into one",
        )
    return value


def survivor_of(a: PersonState, b: PersonState) -> tuple[PersonState, PersonState]:
    """(survivor, loser): the identified one, else the older one (then the smaller id)."""
    if a.identified != b.identified:
        return (a, b) if a.identified else (b, a)
    return (a, b) if (a.created_at, a.id.bytes) <= (b.created_at, b.id.bytes) else (b, a)


def decide_identify(anonymous: PersonState | None, user: PersonState | None) -> Decision:
    """identify(anonymousId, userId); `anonymous`/`user` are their current persons
    (None: the identity is unknown). Left = anonymousId, right = userId."""
    if anonymous is None and user is None:
        return Decision(Outcome.NAMED, Action.CREATE_WITH_BOTH)
    if anonymous is None:
        return Decision(Outcome.MERGED, Action.ADD_TO_RIGHT, survivor=user.id, identify=(user.id,))
    if user is None:
        if not anonymous.identified:
            return Decision(Outcome.NAMED, Action.ADD_TO_LEFT, survivor=anonymous.id, identify=(anonymous.id,))
        return Decision(Outcome.NOT_MERGED, Action.CREATE_RIGHT)
    if anonymous.id == user.id:
        return Decision(Outcome.UNCHANGED, Action.NOTHING, survivor=user.id, identify=(user.id,))
    if not anonymous.identified:
        # The anonymous visitor's history joins the user's person, whatever their ages.
        return Decision(Outcome.MERGED, Action.MERGE, survivor=user.id, loser=anonymous.id, identify=(user.id,))
    return Decision(Outcome.NOT_MERGED, Action.NOTHING, survivor=user.id, identify=(user.id,))


def decide_alias(left: PersonState | None, right: PersonState | None, *, force: bool) -> Decision:
    """alias(identity, otherIdentity, force), Kissmetrics' /a: order does not
    matter; a missing side joins the other; two people merge unless both are
    identified (then only with force). The outcome names follow identify's
    reading with left as the anonymous side."""
    if left is None and right is None:
        return Decision(Outcome.NAMED, Action.CREATE_WITH_BOTH)
    if left is None:
        return Decision(Outcome.MERGED, Action.ADD_TO_RIGHT, survivor=right.id, identify=(right.id,))
    if right is None:
        return Decision(Outcome.NAMED, Action.ADD_TO_LEFT, survivor=left.id, identify=(left.id,))
    if left.id == right.id:
        return Decision(Outcome.UNCHANGED, Action.NOTHING, survivor=left.id, identify=(left.id,))
    if left.identified and right.identified and not force:
        return Decision(Outcome.NOT_MERGED, Action.NOTHING, survivor=right.id)
    survivor, loser = survivor_of(left, right)
    return Decision(Outcome.MERGED, Action.MERGE, survivor=survivor.id, loser=loser.id, identify=(survivor.id,))
