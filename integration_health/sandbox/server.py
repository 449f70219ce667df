"""The sandbox's HTTP server and the Python API that tests and the demo drive.

Standard library only: one thread per connection (daemon), HTTP/1.1 keep-alive,
bound to 127.0.0.1. A request passes: record, fault, latency, route.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from integration_health.errors import ConfigError
from integration_health.sandbox import ghl_routes, other_routes, unipile_routes
from integration_health.sandbox.faults import (
    Fault,
    FaultTable,
    GhlRateLimiter,
    LatencyTable,
    RateLimit,
)
from integration_health.sandbox.state import (
    SandboxState,
    build_state,
    load_scenario,
    rate_limits_of,
)
from integration_health.sandbox.wire import (
    RecordedRequest,
    Response,
    json_response,
    parse_request,
)

logger = logging.getLogger(__name__)
SLACK_PATH = "/slack/services/T000/B000/XXXX"
MAX_BODY = 10 * 1024 * 1024
STAT_KEYS = (
    "requests",
    "faults_applied",
    "ghl_429",
    "webhook",
    "unipile_profile_views",
)


class Sandbox:
    """A local stand-in for Unipile, GHL, Slack and the platform's webhook.

    ``stats`` counts requests, faults applied, GHL 429s sent, webhook calls
    and profile views. Known limitations: answers are built for the
    toolkit's calls only (other endpoints answer 404); a fault's answer on a
    GHL path carries only the fault's headers, not the rate-limit headers.
    """

    def __init__(
        self, scenario: dict[str, Any] | Path | str | None = None, *, port: int = 0
    ) -> None:
        loaded = load_scenario(scenario)
        self.state: SandboxState = build_state(loaded)
        self.stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
        self.faults = FaultTable()
        self.latency = LatencyTable()
        self.ghl_limiter = GhlRateLimiter()
        for location_id, limit in rate_limits_of(loaded).items():
            self.ghl_limiter.configure(location_id, _rate_limit(limit))
        self._port = port
        self._recorded: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._stopping.clear()
        try:
            self._server = _Server(("127.0.0.1", self._port), _Handler)
        except OSError as exc:
            where = f"127.0.0.1:{self._port}"
            raise ConfigError(
                f"sandbox cannot listen on {where}: {exc.strerror}"
            ) from exc
        self._server.sandbox = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sandbox-http",
            daemon=True,
        )
        self._thread.start()
        logger.debug("sandbox listening", extra={"action": "sandbox.start"})
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        logger.debug("sandbox stopped", extra={"action": "sandbox.stop"})

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def unipile_dsn(self) -> str:
        return self.url

    @property
    def unipile_api_key(self) -> str:
        return self.state.unipile_api_key

    @property
    def ghl_base_url(self) -> str:
        return self.url

    @property
    def slack_webhook_url(self) -> str:
        return self.url + SLACK_PATH

    @property
    def webhook_url(self) -> str:
        return self.url + "/webhook"

    # -- controls --------------------------------------------------------
    def add_fault(
        self,
        method: str = "*",
        path: str = ".*",
        *,
        status: int | None = None,
        body: str | bytes | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        drop: bool = False,
        html: bool = False,
        empty: bool = False,
        malformed_json: bool = False,
        times: int | None = None,
        after: int = 0,
    ) -> None:
        """Make matching requests fail; ``path`` is a regex searched in the path."""
        fault = Fault(
            method, path, status, body, headers, delay, drop, html, empty,
            malformed_json, times, after,
        )  # fmt: skip
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_latency(self, seconds: float, path: str = ".*") -> None:
        """Add ``seconds`` before every answer whose path matches (0 removes)."""
        self.latency.set(seconds, path)

    def set_ghl_rate_limit(
        self,
        location_id: str | None,
        limit: int,
        interval_seconds: float,
        *,
        retry_after: float | None = None,
    ) -> None:
        """Enforce ``limit`` calls per sliding window (``None`` = every location)."""
        self.ghl_limiter.configure(
            location_id, RateLimit(limit, interval_seconds, retry_after)
        )

    def set_account_sources(
        self, account_id: str, statuses: list[str], *, disconnected: bool | None = None
    ) -> None:
        """Change an account's health live, as LinkedIn would."""
        with self.state.lock:
            account = self.state.accounts[account_id]
            old = account["sources"]
            account["sources"] = [
                {
                    "id": old[i]["id"] if i < len(old) else f"{account_id}_{i}",
                    "status": status,
                }
                for i, status in enumerate(statuses)
            ]
            if disconnected is not None:
                account["disconnected"] = disconnected

    def requests(
        self, path_prefix: str = "", method: str | None = None
    ) -> list[RecordedRequest]:
        """Requests received so far (control calls excluded), oldest first."""
        with self._lock:
            items = list(self._recorded)
        wanted = method.upper() if method else None
        return [
            item
            for item in items
            if item.path.startswith(path_prefix) and wanted in (None, item.method)
        ]

    def clear_requests(self) -> None:
        with self._lock:
            self._recorded.clear()

    # -- used by routes --------------------------------------------------
    def count(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self.stats[key] = self.stats.get(key, 0) + amount

    def sleep(self, seconds: float) -> None:
        """Wait, but wake at once when the sandbox stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def answer(self, req: RecordedRequest) -> Response:
        if req.path.startswith(other_routes.CONTROL_PREFIX):
            return other_routes.handle_control(self, req)
        with self._lock:
            self._recorded.append(req)
            self.stats["requests"] = self.stats.get("requests", 0) + 1
        fault = self.faults.take(req.method, req.path)
        if fault is not None:
            self.count("faults_applied")
            self.sleep(fault.delay)
            if fault.drop or fault.replaces_answer:
                return fault.response()
        self.sleep(self.latency.delay_for(req.path))
        answer = self._route(req)
        if fault is not None and fault.headers:
            answer.headers.update(fault.headers)
        return answer

    def _route(self, req: RecordedRequest) -> Response:
        for module in (unipile_routes, ghl_routes, other_routes):
            answer = module.handle(self, req)
            if answer is not None:
                return answer
        return json_response(404, {"statusCode": 404, "message": "Not Found"})


def _rate_limit(spec: dict[str, Any]) -> RateLimit:
    retry_after = spec.get("retry_after")
    return RateLimit(
        int(spec["limit"]),
        float(spec["interval_seconds"]),
        None if retry_after is None else float(retry_after),
    )


class _Server(ThreadingHTTPServer):
    """Daemon threads, a deep backlog, and a list of open connections to close."""

    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True
    sandbox: Sandbox

    def __init__(self, address: tuple[str, int], handler: type[_Handler]) -> None:
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, handler)

    def close_connections(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("sandbox connection error", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 60
    #: Headers and body go out in separate writes; without TCP_NODELAY each
    #: answer waits ~40 ms for the client's delayed ACK (Nagle).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        body = self._read_body()
        headers = {key.lower(): value for key, value in self.headers.items()}
        req = parse_request(self.command, self.path, headers, body, time.time())
        answer = self.server.sandbox.answer(req)
        if answer.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(answer.status)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, MAX_BODY)) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Only the first path segment: paths and queries may hold secrets or
        # personal data (a Slack webhook path, a lead's email).
        area = "/" + self.path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        extra = {"action": "sandbox.request"}
        logger.debug("sandbox %s %s -> %s", self.command, area, code, extra=extra)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox connection note", extra={"action": "sandbox.note"})
