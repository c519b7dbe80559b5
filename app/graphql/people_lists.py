"""The people drill-downs of the reports on the report contract (trend points,
stickiness buckets, lifecycle points, path nodes): person ids in id order,
paged by the last id (an opaque cursor of the list's kind), answered as a
PersonConnection."""
from __future__ import annotations

import uuid
from typing import Optional, Sequence

import strawberry

from ..errors import BadInput
from .context import Context
from .pagination import decode_cursor, encode_cursor
from .types import PageInfo, Person, PersonConnection

EMPTY = PersonConnection(nodes=[], page_info=PageInfo(has_next_page=False, end_cursor=None), total_count=0)


def person_after(after: Optional[str], kind: str) -> uuid.UUID | None:
    """The person id a page starts after (None: from the first)."""
    values = decode_cursor(after, kind)
    if values is None:
        return None
    try:
        return uuid.UUID(values[0])
    except (ValueError, IndexError, TypeError, AttributeError):
        raise BadInput("after", "not a cursor of this list") from None


async def people_page(
    info: strawberry.Info[Context, None], ids: Sequence[uuid.UUID], has_next_page: bool, total: int, kind: str
) -> PersonConnection:
    """A page of person ids, in id order, as a PersonConnection."""
    services, project_id = info.context.services, info.context.project_id
    info.context.live_reads = True  # (app/graphql/answers.py)
    rows = await services.people.by_ids(project_id, list(ids)) if ids else {}
    end = encode_cursor(kind, str(ids[-1])) if ids else None
    return PersonConnection(
        nodes=[Person(row=rows[pid]) for pid in ids if pid in rows],
        page_info=PageInfo(has_next_page=has_next_page, end_cursor=end),
        total_count=total,
    )
