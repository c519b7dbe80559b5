"""app/storage/listener.py: one connection listens on several channels, tells
every channel when it starts and stops listening, and comes back after its
connection is killed."""
from __future__ import annotations

import asyncio

import pytest

from app.storage.listener import Listener, pool_connector


async def eventually(check, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_one_connection_several_channels_and_a_reconnect(services):
    pool = services.pool
    listener = Listener(pool_connector(pool), health_interval=0.2, min_backoff=0.05)
    got: dict[str, list[str]] = {"a": [], "b": []}
    states: dict[str, list[bool]] = {"a": [], "b": []}
    for channel in ("a", "b"):
        listener.listen(f"whodid_test_{channel}", got[channel].append, states[channel].append)
    await listener.start()
    try:
        assert listener.listening and listener.connects == 1
        assert states == {"a": [True], "b": [True]}
        with pytest.raises(RuntimeError):
            listener.listen("whodid_test_c", print)

        await pool.execute("SELECT pg_notify('whodid_test_a', 'one'), pg_notify('whodid_test_b', 'two')")
        await eventually(lambda: got == {"a": ["one"], "b": ["two"]})

        # Killed: every channel hears that nobody listens, then that it is back.
        await pool.execute("SELECT pg_terminate_backend($1::int)", listener.connection.get_server_pid())
        await eventually(lambda: listener.connects == 2 and listener.listening)
        assert states == {"a": [True, False, True], "b": [True, False, True]}
        await pool.execute("SELECT pg_notify('whodid_test_a', 'three')")
        await eventually(lambda: got["a"] == ["one", "three"])
    finally:
        await listener.close()
    assert not listener.listening and states["a"][-1] is False
