"""The Segment HTTP tracking API (track, identify, alias, page, screen, group,
batch), as segment-analytics-python and analytics.js send it.

A request becomes the ingest plan (app/ingest/plan.py): `plan_*` translates
the messages into its operations (links, events, trait sets), each with the
table that names its fields in this message's terms. `check` is the plan's
own (the ingest rules on every operation, so a batch with one bad message is
refused before anything is written) and the ingest service applies it."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson

from ..errors import BadInput
from ..ingest.plan import Link, Plan, SetTraits
from ..ingest.service import IngestService
from ..ingest.validation import REVENUE_KEY, EventIn, NormalEvent, parse_revenue

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
TYPES = ("track", "identify", "alias", "page", "screen", "group")
PAGE_EVENTS = {"page": "Viewed Page", "screen": "Viewed Screen"}


# Not frozen: one is built per event, and a frozen dataclass's __init__
# costs ~5x as much (object.__setattr__ per field).
@dataclass(slots=True)
class Record:
    event: EventIn
    at: str  # where the message is: "batch[3]." or ""
    identity_key: str  # "userId" or "anonymousId"
    name_key: str  # "event" (track) or "name" (page, screen)

    @property
    def fields(self) -> dict[str, str]:
        """The ingest rules' field names in this message's terms. Built only
        when refusing: per message of a batch it was a tenth of the CPU."""
        at = self.at
        return {"input.identity": f"{at}{self.identity_key}", "input.name": f"{at}{self.name_key}",
                "input.properties": f"{at}properties", "input.timestamp": f"{at}timestamp",
                "input.id": f"{at}messageId"}


# ------------------------------------------------------------------ parsing


def parse_time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(field, "must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadInput(field, f"not an ISO 8601 date-time: {value[:40]!r}") from None
    try:
        return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
        raise BadInput(field, f"out of range: {value[:40]!r}") from None


def corrected_time(timestamp: datetime | None, sent_at: datetime | None, received_at: datetime) -> datetime | None:
    """Segment's clock-skew correction: the device clock may be wrong, but the
    gap between `timestamp` and `sentAt` is right, so the event happened at
    receivedAt − (sentAt − timestamp)."""
    if timestamp is None or sent_at is None:
        return timestamp
    try:
        return timestamp + (received_at - sent_at)
    except OverflowError:
        raise BadInput("sentAt", "too far from the time the request was received") from None


def identity(message: dict, key: str, field: str) -> str | None:
    """An id as Segment sends it: a string, or a number it stringifies. "" is absent."""
    value = message.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadInput(field, "must be a string")
    return value if isinstance(value, str) else str(value)


def text(message: dict, key: str, field: str) -> str | None:
    value = message.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(field, "must be a string")
    return value


def json_object(message: dict, key: str, field: str) -> dict:
    value = message.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput(field, "must be a JSON object")
    return value


def with_revenue(properties: dict, field: str) -> dict:
    """Segment's `revenue` convention counts as whodid's `Revenue` when no
    `Revenue` is given; the original key stays as sent."""
    if "revenue" not in properties or REVENUE_KEY in properties or properties["revenue"] is None:
        return properties
    parse_revenue(f"{field}.revenue", properties["revenue"])
    return {**properties, REVENUE_KEY: properties["revenue"]}


def plan_message(message: Any, kind: str | None, received_at: datetime,
                 batch_sent_at: datetime | None = None, at: str = "", plan: Plan | None = None) -> Plan:
    """One message's operations, added to `plan` (default: a new one);
    `kind` is the endpoint's type (None in a batch: the message's `type`);
    `at` prefixes field names ("batch[3].")."""
    where = at.rstrip(".") or "body"
    if not isinstance(message, dict):
        raise BadInput(where, "a message must be a JSON object")
    try:
        size = len(orjson.dumps(message))
    except orjson.JSONEncodeError:  # an integer beyond 64 bits (body.parse_json reads those exactly)
        size = len(json.dumps(message).encode())
    if size > MAX_MESSAGE_BYTES:
        raise BadInput(where, f"a message is at most {MAX_MESSAGE_BYTES // 1024} KiB")
    if kind is None:
        kind = message.get("type")
        if kind not in TYPES:
            raise BadInput(f"{at}type", f"must be one of {', '.join(TYPES)}")
    sent_at = parse_time(message.get("sentAt"), f"{at}sentAt") or batch_sent_at
    timestamp = corrected_time(parse_time(message.get("timestamp"), f"{at}timestamp"), sent_at, received_at)
    user_id = identity(message, "userId", f"{at}userId")
    anonymous_id = identity(message, "anonymousId", f"{at}anonymousId")
    message_id = message.get("messageId")
    if message_id is not None and not isinstance(message_id, str):
        raise BadInput(f"{at}messageId", "must be a string")

    plan = Plan(batch_field="batch") if plan is None else plan
    if kind == "alias":
        previous = identity(message, "previousId", f"{at}previousId") or anonymous_id
        if previous is None:
            raise BadInput(f"{at}previousId", "previousId is missing")
        if user_id is None:
            raise BadInput(f"{at}userId", "userId is missing")
        plan.links.append(Link(previous, user_id, True, {"input.identity": f"{at}previousId",
                                                         "input.otherIdentity": f"{at}userId"}))
        return plan
    if user_id is None and anonymous_id is None:
        raise BadInput(f"{at}userId", "userId or anonymousId is missing")
    # Both ids: link them as identify does, and the user id is the identity.
    who, who_key = (user_id, "userId") if user_id is not None else (anonymous_id, "anonymousId")
    if user_id is not None and anonymous_id is not None and user_id != anonymous_id:
        plan.links.append(Link(anonymous_id, user_id, False, {"input.anonymousId": f"{at}anonymousId",
                                                              "input.userId": f"{at}userId"}))
    if kind == "identify":
        if user_id is not None and anonymous_id in (None, user_id):
            # identify(userId, userId): the user id names a known (identified) person.
            plan.links.append(Link(user_id, user_id, False, {"input.anonymousId": f"{at}userId",
                                                             "input.userId": f"{at}userId"}))
        traits = json_object(message, "traits", f"{at}traits")
        if traits:
            plan.traits.append(SetTraits(who, traits, timestamp, {
                "input.identity": f"{at}{who_key}", "input.properties": f"{at}traits",
                "input.timestamp": f"{at}timestamp"}))
        return plan
    if kind == "group":
        return plan  # accepted; groups are not modelled (yet)
    properties = json_object(message, "properties", f"{at}properties")
    if kind == "track":
        name = message.get("event")
        if not isinstance(name, str) or not name:
            raise BadInput(f"{at}event", "the event name is missing")
        name_key = "event"
    else:  # page, screen
        name, name_key = PAGE_EVENTS[kind], "name"
        for key in ("name", "category"):
            value = text(message, key, f"{at}{key}")
            if value is not None:
                properties = {**properties, key: value}
    properties = with_revenue(properties, f"{at}properties")
    plan.records.append(Record(EventIn(who, name, properties, timestamp, message_id), at, who_key, name_key))
    return plan


def plan_batch(body: Any, received_at: datetime) -> Plan:
    if not isinstance(body, dict):
        raise BadInput("body", "must be a JSON object with a `batch` list")
    messages = body.get("batch")
    if not isinstance(messages, list):
        raise BadInput("batch", "must be a list of messages")
    sent_at = parse_time(body.get("sentAt"), "sentAt")
    plan = Plan(batch_field="batch")
    for index, message in enumerate(messages):
        plan_message(message, None, received_at, sent_at, f"batch[{index}].", plan)
    return plan


def check(plan: Plan, now: datetime) -> list[NormalEvent]:
    """The plan's own check (the ingest rules, once): the normalised events."""
    return plan.check(now)


async def apply(ingest: IngestService, project_id: uuid.UUID, plan: Plan, events: list[NormalEvent]) -> None:
    """Carry out a checked plan through the ingest service."""
    await ingest.apply(project_id, plan, events)
