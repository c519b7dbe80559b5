"""The listening sockets of `whodid serve --workers N`.

uvicorn binds one socket in its supervisor and every worker accepts from it.
A worker that wakes for a burst of new connections accepts all that are
waiting, so a client holding a few keep-alive connections (a batch sender, a
proxy) often has all of them on one worker while the others idle: wrk's 8
connections went 8/0, 7/1 and 6/2 as often as 4/4 (docs/benchmarks.md §2),
and a batch run then got one core's worth of whodid.

On Linux each worker binds a socket of its own to the address instead, with
SO_REUSEPORT, and the kernel spreads new connections over the workers'
sockets by a hash of each connection's addresses. Elsewhere (SO_REUSEPORT does
not spread connections on macOS or the BSDs), or on port 0, uvicorn's shared
socket stays.
"""
from __future__ import annotations

import socket
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind_reuse_port(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) with SO_REUSEPORT, not yet listening
    (uvicorn's server calls listen). Only sockets of the same user can join."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class WorkerSocket:
    """Stands in for a socket in the list uvicorn's supervisor hands to each
    worker it starts (and restarts): it travels as its address and is
    unpickled in the worker as a new socket of that worker's own."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port

    def __reduce__(self):
        return bind_reuse_port, (self.host, self.port)


def spreads_connections(port: int) -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT") and port != 0


def _bind_problem(host: str, port: int) -> OSError | None:
    """Refuse a port someone listens on before joining it: SO_REUSEPORT would
    let a second whodid of the same user share it silently."""
    probe = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        return exc
    finally:
        probe.close()
    return None


def serve_workers(config: uvicorn.Config) -> None:
    """uvicorn's multi-worker supervisor (signals, health checks, restarts),
    each worker on a socket of its own. The supervisor keeps a bound socket
    of the group, never listening, so the port stays reserved between
    worker restarts."""
    problem = _bind_problem(config.host, config.port)
    if problem is not None:
        print(f"whodid: cannot listen on {config.host}:{config.port}: {problem.strerror}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    reservation = bind_reuse_port(config.host, config.port)
    try:
        Multiprocess(config, sockets=[WorkerSocket(config.host, config.port)]).run()  # type: ignore[list-item]
    finally:
        reservation.close()
