"""A tiny local webhook endpoint for the verify burst: delays, stalls, 504s.

Binds 127.0.0.1 on a free port, answers each POST from a thread of its own,
and records what it received and how long it spent on each request, so a
test or benchmark can compare client-side latency with server-side time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: (request number from 0, body) -> (status, delay in seconds)
Behaviour = Callable[[int, bytes], tuple[int, float]]


def constant(status: int = 200, delay: float = 0.0) -> Behaviour:
    return lambda _n, _body: (status, delay)


@dataclass
class Endpoint:
    url: str
    behaviour: Behaviour
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    handling_times: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_number(self, body: bytes, headers: dict[str, str]) -> int:
        with self._lock:
            self.bodies.append(body)
            self.headers.append(headers)
            return len(self.bodies) - 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    endpoint: Endpoint


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        started = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        endpoint = self.server.endpoint
        number = endpoint.next_number(body, dict(self.headers.items()))
        status, delay = endpoint.behaviour(number, body)
        if delay:
            time.sleep(delay)
        payload = b'{"ok":true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        with endpoint._lock:
            endpoint.handling_times.append(time.perf_counter() - started)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def serve(
    behaviour: Behaviour | None = None, path: str = "/hooks"
) -> Iterator[Endpoint]:
    """Run the endpoint for the duration of the block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    endpoint = Endpoint(
        url=f"http://127.0.0.1:{port}{path}", behaviour=behaviour or constant()
    )
    server.endpoint = endpoint
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
