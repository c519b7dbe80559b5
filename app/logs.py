"""Logging: one line per request, as text or (WHODID_LOG_FORMAT=json) JSON."""
from __future__ import annotations

import asyncio
import logging
import sys
import time

import orjson

_FIELDS = ("request_id", "project", "method", "route", "status", "duration_ms")


class _SecondStamps:
    """logging.Formatter.formatTime without a datefmt ("2026-12-06
    08:57:51,674", local time), the strftime of a second made once: an
    access line per request is the hot path (localtime + strftime were a
    third of a line's cost)."""

    def __init__(self) -> None:
        self.second = -1
        self.text = ""

    def format(self, formatter: logging.Formatter, record: logging.LogRecord, datefmt: str | None) -> str:
        if datefmt:
            return logging.Formatter.formatTime(formatter, record, datefmt)
        second = int(record.created)
        if second != self.second:
            self.text = time.strftime(formatter.default_time_format, formatter.converter(record.created))
            self.second = second
        return formatter.default_msec_format % (self.text, record.msecs)


class JsonFormatter(logging.Formatter):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stamps = _SecondStamps()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self._stamps.format(self, record, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        data = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        for name in _FIELDS:
            if hasattr(record, name):
                data[name] = getattr(record, name)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stamps = _SecondStamps()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self._stamps.format(self, record, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = record.__dict__
        extras = " ".join(f"{name}={fields[name]}" for name in _FIELDS if name in fields)
        return f"{line} {extras}" if extras else line


class IterationBatchingHandler(logging.StreamHandler):
    """A StreamHandler that writes the lines logged during one event-loop
    iteration together, at the end of that iteration (loop.call_soon): under
    load one iteration answers a whole group commit's requests, and a write
    and flush per access line (a system call each) cost a tracking request
    5-8 µs (docs/benchmarks.md §16.2). A line logged outside a running loop
    (another thread, startup, shutdown) is written at once, after any lines
    still waiting, and flush() (logging.shutdown calls it at exit) writes
    whatever waits."""

    def __init__(self, stream=None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            super().emit(record)
            return
        try:
            self._pending.append(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)
            return
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._write_iteration)

    def _write_iteration(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        self.acquire()
        try:
            if self._pending:
                text = "".join(self._pending)
                self._pending.clear()
                if self.stream is not None:
                    try:
                        self.stream.write(text)
                    except Exception:  # as logging does: never fail the caller over its log
                        sys.stderr.write("whodid: could not write log lines\n")
            super().flush()
        finally:
            self.release()


def setup_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    # Neither format shows the thread, the process or its name: a record need
    # not look them up (a third of building the record of each access line).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = IterationBatchingHandler(sys.stderr)
    text = TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(JsonFormatter() if fmt == "json" else text)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own access log would duplicate ours.
    logging.getLogger("uvicorn.access").disabled = True
