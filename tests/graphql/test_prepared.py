"""recordEvent without the engine (app/graphql/prepared.py): for the same
requests, the answer (status, body) is the one Strawberry's path gives, for
successes and for every kind of error, and other documents are left alone."""
from __future__ import annotations

import re

import pytest

from app.graphql import prepared

PLAIN = "mutation R($i: RecordEventInput!) { recordEvent(input: $i) { duplicate event { id } } }"
ALIASED = """mutation Named($e: RecordEventInput!) {
  r: recordEvent(input: $e) { __typename dup: duplicate event { __typename eid: id } again: id } }"""
ALIASED_OK = """mutation Named($e: RecordEventInput!) {
  r: recordEvent(input: $e) { __typename dup: duplicate event { __typename eid: id id } } }"""
# Not accepted (more than the prepared selection): always Strawberry's path.
RICHER = "mutation($i: RecordEventInput!) { recordEvent(input: $i) { duplicate event { id name } } }"
INLINE = 'mutation { recordEvent(input: {identity: "inline", name: "Viewed"}) { duplicate event { id } } }'
NOT_ACCEPTED = (RICHER, INLINE)

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Rejecting(prepared.PreparedDocuments):
    def get(self, text, schema):
        return None


def event(n: int, **extra) -> dict:
    return {"identity": f"p-{n}", "name": "Viewed", "properties": {"n": n}, **extra}


CASES = [
    ("plain", PLAIN, {"i": event(1)}, None),
    ("aliases and typenames", ALIASED_OK, {"e": event(2, timestamp="2024-01-02T03:04:05Z")}, None),
    ("operation name", PLAIN, {"i": event(3)}, "R"),
    ("another operation name", PLAIN, {"i": event(4)}, "Other"),
    ("missing variable", PLAIN, {}, None),
    ("variable of the wrong shape", PLAIN, {"i": {"identity": "x"}}, None),
    ("unknown field", PLAIN, {"i": {**event(5), "nope": 1}}, None),
    ("bad timestamp", PLAIN, {"i": event(6, timestamp="yesterday")}, None),
    ("empty identity (refused by the ingest rules)", PLAIN, {"i": {**event(7), "identity": ""}}, None),
    ("empty name", PLAIN, {"i": {**event(8), "name": " "}}, None),
    ("a field not prepared", ALIASED, {"e": event(9)}, None),
    ("richer selection", RICHER, {"i": event(10)}, None),
    ("no variable", INLINE, {}, None),
]


async def exchange(http, key, query, variables, operation_name):
    body = {"query": query, "variables": variables}
    if operation_name is not None:
        body["operationName"] = operation_name
    response = await http.post("/graphql", json=body, headers={"Authorization": f"Bearer {key}"})
    return response.status_code, UUID.sub("<uuid>", response.text)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_the_same_answer_as_strawberrys_path(http, project, monkeypatch, case):
    _, query, variables, operation_name = case
    served = prepared.DOCUMENTS.served
    fast = await exchange(http, project.write_key, query, variables, operation_name)
    took_it = prepared.DOCUMENTS.served > served
    with monkeypatch.context() as patch:
        patch.setattr(prepared, "DOCUMENTS", Rejecting())
        # (a new event for the successes: the same one would be a duplicate)
        if fast[0] == 200 and '"errors"' not in fast[1] and variables:
            variables = {k: {**v, "identity": v["identity"] + "-engine"} for k, v in variables.items()}
        slow = await exchange(http, project.write_key, query, variables, operation_name)
    assert fast == slow
    succeeded = fast[0] == 200 and '"errors"' not in fast[1]
    # Every success of an accepted document without the engine; errors and
    # other documents through it.
    assert took_it == (succeeded and query not in NOT_ACCEPTED)


async def test_errors_after_the_write_are_raised_again_not_written_twice(http, project, services, monkeypatch):
    """The duplicate check runs after the write: a duplicate id with other
    content is refused the same way on both paths, and the event is stored once."""
    first = {"i": event(20, id="dup-1")}
    other = {"i": {**event(21), "id": "dup-1"}}
    assert (await exchange(http, project.write_key, PLAIN, first, None))[0] == 200
    served = prepared.DOCUMENTS.served
    fast = await exchange(http, project.write_key, PLAIN, other, None)
    assert prepared.DOCUMENTS.served == served and "already recorded" in fast[1]
    with monkeypatch.context() as patch:
        patch.setattr(prepared, "DOCUMENTS", Rejecting())
        slow = await exchange(http, project.write_key, PLAIN, other, None)
    assert fast == slow
    # The caller's own retry is a duplicate, answered without the engine, with the stored id.
    again = await exchange(http, project.write_key, PLAIN, first, None)
    assert '"duplicate":true' in again[1] and prepared.DOCUMENTS.served == served + 1
    assert await services.pool.fetchval(
        "SELECT count(*) FROM events WHERE project_id = $1 AND idempotency_key = 'dup-1'", project.id) == 1


async def test_a_read_key_and_no_key(http, project, monkeypatch):
    for key in (project.read_key, "wk_unknown"):
        fast = await exchange(http, key, PLAIN, {"i": event(30)}, None)
        with monkeypatch.context() as patch:
            patch.setattr(prepared, "DOCUMENTS", Rejecting())
            slow = await exchange(http, key, PLAIN, {"i": event(31)}, None)
        assert fast == slow


async def test_a_persisted_recordevent_takes_the_same_path(http, project):
    """A persisted query runs its stored text: known, so neither parsed nor
    validated again."""
    import hashlib

    digest = hashlib.sha256(PLAIN.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    headers = {"Authorization": f"Bearer {project.write_key}"}
    served = prepared.DOCUMENTS.served
    first = await http.post("/graphql", headers=headers,
                            json={"query": PLAIN, "variables": {"i": event(40)}, "extensions": persisted})
    assert first.status_code == 200 and '"duplicate":false' in first.text
    examined = len(prepared.DOCUMENTS.entries)
    again = await http.post("/graphql", headers=headers, json={"variables": {"i": event(41)}, "extensions": persisted})
    assert again.status_code == 200 and '"duplicate":false' in again.text
    assert prepared.DOCUMENTS.served == served + 2 and len(prepared.DOCUMENTS.entries) == examined
