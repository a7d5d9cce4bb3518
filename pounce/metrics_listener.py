"""``--metrics-bind``: the supervisor's small HTTP/1.1 endpoint, ``/metrics``, ``/livez`` and
``/readyz``.

It lives in the supervisor's synchronous ``select`` loop (pounce/supervisor.py), apart from
the app's listener, so that a probe never queues behind the app's requests and a scrape sees
every worker. Each connection carries one request (``connection: close``): GET or HEAD, a head
of at most ``MAX_HEAD`` bytes arriving within ``HEAD_TIMEOUT``; anything else gets its error
status (400, 404, 405) or, for a head that never completes, a close.

``/metrics`` and ``/livez`` ask every ready worker to answer over its control channel (the
``T`` message of pounce/worker.py) and wait for those answers, at most ``PROBE_TIMEOUT``: a
scrape gets the counts of every request answered before it, and a worker whose loop does not
answer in time is what makes ``/livez`` 503. ``/readyz`` answers at once from the
supervisor's own state. The supervisor is the ``Fleet`` that does the asking and judging.
"""

from __future__ import annotations

import contextlib
import json
import logging
import selectors
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from .metrics_exposition import CONTENT_TYPE

logger = logging.getLogger("pounce.error")

# How long /metrics and /livez wait for the workers' answers (a loop that does not answer a
# probe within this is not live).
PROBE_TIMEOUT = 1.0
# A request head must arrive within this, and fit in MAX_HEAD bytes.
HEAD_TIMEOUT = 5.0
MAX_HEAD = 8192
# Connections open at once; more are closed when accepted (probes are a few at a time).
MAX_CLIENTS = 64
# The answer is written with a blocking send bounded by this: bodies are a few KiB, well
# under a socket's send buffer, so a client that reads nothing costs the loop at most this.
SEND_TIMEOUT = 1.0

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}
JSON_TYPE = "application/json"

Marks = dict[int, int]  # worker pid -> the answers it must have sent for a probe to be done


class Fleet(Protocol):
    """What the endpoint asks of the supervisor."""

    def probe_workers(self) -> Marks:
        """Ask every ready worker for a fresh snapshot; what to wait for."""

    def probe_answered(self, marks: Marks) -> bool:
        """Every worker in ``marks`` answered (or exited)."""

    def metrics_text(self) -> str: ...

    def liveness(self, marks: Marks) -> tuple[bool, dict[str, Any]]: ...

    def readiness(self) -> tuple[bool, dict[str, Any]]: ...


@dataclass(eq=False)
class _Client:
    sock: socket.socket
    accepted: float
    head: bytearray = field(default_factory=bytearray)
    path: str = ""
    head_only: bool = False
    marks: Marks | None = None  # waiting for a probe since ``asked``
    asked: float = 0.0


class MetricsListener:
    """Accepts, reads and answers probe and scrape requests inside the supervisor's loop."""

    def __init__(self, sock: socket.socket, fleet: Fleet, selector: selectors.BaseSelector) -> None:
        self.sock = sock
        self.fleet = fleet
        self.selector = selector
        self.clients: list[_Client] = []
        selector.register(sock, selectors.EVENT_READ, self._accept)

    def address(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    # Events from the supervisor's loop --------------------------------------------------------

    def _accept(self) -> None:
        for _ in range(MAX_CLIENTS):
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and the like: the next turn tries again
                logger.warning("--metrics-bind: accept failed: %s", exc)
                return
            if len(self.clients) >= MAX_CLIENTS:
                conn.close()
                continue
            conn.setblocking(False)
            client = _Client(conn, time.monotonic())
            self.clients.append(client)
            self.selector.register(conn, selectors.EVENT_READ, lambda c=client: self._read(c))

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(MAX_HEAD)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(client)
            return
        client.head += data
        end = client.head.find(b"\r\n\r\n")
        if end < 0:
            if len(client.head) > MAX_HEAD:
                self._respond(client, 400, "text/plain", b"request head too large\n")
            return
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(client.sock)  # one request per connection
        self._route(client, bytes(client.head[:end]))

    def _route(self, client: _Client, head: bytes) -> None:
        line = head.split(b"\r\n", 1)[0]
        parts = line.split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            self._respond(client, 400, "text/plain", b"bad request line\n")
            return
        method, target = parts[0], parts[1]
        if method not in (b"GET", b"HEAD"):
            self._respond(client, 405, "text/plain", b"GET or HEAD\n", allow=True)
            return
        client.head_only = method == b"HEAD"
        client.path = target.split(b"?", 1)[0].decode("latin-1")
        if client.path == "/readyz":
            ready, detail = self.fleet.readiness()
            self._respond_json(client, 200 if ready else 503, detail)
        elif client.path in ("/metrics", "/livez"):
            client.marks = self.fleet.probe_workers()
            client.asked = time.monotonic()
            self.poll(client.asked)  # no worker to wait for: answered now
        else:
            self._respond(client, 404, "text/plain", b"try /metrics, /livez or /readyz\n")

    def poll(self, now: float) -> None:
        """Once per supervisor loop turn: answer the requests whose probe is done or timed
        out; close connections whose head is late."""
        for client in list(self.clients):
            if client.marks is not None:
                done = self.fleet.probe_answered(client.marks)
                if done or now - client.asked >= PROBE_TIMEOUT:
                    self._answer_probe(client)
            elif now - client.accepted > HEAD_TIMEOUT:
                self._close(client)

    def _answer_probe(self, client: _Client) -> None:
        assert client.marks is not None
        if client.path == "/livez":
            live, detail = self.fleet.liveness(client.marks)
            self._respond_json(client, 200 if live else 503, detail)
        else:
            body = self.fleet.metrics_text().encode("utf-8")
            self._respond(client, 200, CONTENT_TYPE, body)

    # Answers ----------------------------------------------------------------------------------

    def _respond_json(self, client: _Client, status: int, detail: dict[str, Any]) -> None:
        body = (json.dumps(detail, indent=1) + "\n").encode("utf-8")
        self._respond(client, status, JSON_TYPE, body)

    def _respond(
        self, client: _Client, status: int, content_type: str, body: bytes, allow: bool = False
    ) -> None:
        extra = "allow: GET, HEAD\r\n" if allow else ""
        head = (
            f"HTTP/1.1 {status} {REASONS[status]}\r\n"
            f"content-type: {content_type}\r\n"
            f"content-length: {len(body)}\r\n"
            f"cache-control: no-store\r\n{extra}"
            "connection: close\r\n\r\n"
        ).encode("latin-1")
        sock = client.sock
        try:
            sock.settimeout(SEND_TIMEOUT)
            sock.sendall(head if client.head_only else head + body)
        except OSError:
            pass  # the client left or reads nothing: it loses its answer, nobody else waits
        self._close(client)

    def _close(self, client: _Client) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(client.sock)
        client.sock.close()
        with contextlib.suppress(ValueError):
            self.clients.remove(client)

    def close(self) -> None:
        """Stop listening and drop every connection (the supervisor is done)."""
        for client in list(self.clients):
            self._close(client)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.sock)
        self.sock.close()

    def close_in_child(self) -> None:
        """In a forked worker: close the supervisor's sockets (the selector is gone already)."""
        for client in self.clients:
            client.sock.close()
        self.sock.close()
