"""A real TCP proxy between whodid and PostgreSQL that a test can cut and
restore: a database outage without stopping the shared server."""
from __future__ import annotations

import asyncio
import contextlib


class CuttableProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.cut_off = False
        self._links: set[asyncio.StreamWriter] = set()

    async def start(self) -> "CuttableProxy":
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._links |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._links -= {writer, up_writer}

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        self.cut_off = True
        for link in list(self._links):
            link.close()

    def restore(self) -> None:
        self.cut_off = False

    async def close(self) -> None:
        self.cut()
        self.server.close()
