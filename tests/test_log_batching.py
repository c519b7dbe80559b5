"""The access log's handler (app/logs.py, IterationBatchingHandler): the
lines of one event-loop iteration are written together at its end, in order,
with the same text as a plain StreamHandler's; outside a loop at once."""
from __future__ import annotations

import asyncio
import io
import logging

from app.logs import IterationBatchingHandler, TextFormatter


def _records(n: int) -> list[logging.LogRecord]:
    out = []
    for i in range(n):
        record = logging.LogRecord("whodid.access", logging.INFO, "", 0, "request", None, None)
        record.__dict__.update({"request_id": f"id{i}", "status": 200})
        out.append(record)
    return out


def _handlers():
    fmt = TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    batched, plain = IterationBatchingHandler(io.StringIO()), logging.StreamHandler(io.StringIO())
    batched.setFormatter(fmt)
    plain.setFormatter(fmt)
    return batched, plain


def test_one_iterations_lines_are_written_together_at_its_end():
    batched, plain = _handlers()
    records = _records(5)

    async def run():
        writes = []
        original = batched.stream.write
        batched.stream.write = lambda text: (writes.append(text), original(text))[1]
        for record in records:
            batched.handle(record)
            plain.handle(record)
        assert writes == []  # nothing yet: the iteration has not ended
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert len(writes) == 1
        batched.handle(records[0])
        await asyncio.sleep(0)
        assert len(writes) == 2

    asyncio.run(run())
    plain.handle(records[0])
    assert batched.stream.getvalue() == plain.stream.getvalue()


def test_outside_a_loop_a_line_is_written_at_once_after_the_waiting_ones():
    batched, plain = _handlers()
    records = _records(3)

    async def log_two():
        batched.handle(records[0])
        batched.handle(records[1])

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(log_two())  # ends before the iteration's write runs? either way, in order
    finally:
        loop.close()
    batched.handle(records[2])  # no running loop: written now, the waiting lines first
    for record in records:
        plain.handle(record)
    assert batched.stream.getvalue() == plain.stream.getvalue()
    batched.handle(records[0])
    batched.flush()
    assert batched.stream.getvalue().count("request_id=id0") == 2
