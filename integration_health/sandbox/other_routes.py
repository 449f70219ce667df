"""Slack's incoming webhook, the platform's webhook endpoint, the reconnect
page, and the ``/_sandbox/`` control API for a sandbox in another process.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from integration_health.sandbox.wire import (
    RecordedRequest,
    Response,
    json_response,
    text_response,
)

if TYPE_CHECKING:
    from integration_health.sandbox.server import Sandbox

SLACK_PATH = re.compile(r"/slack/services/[^/]+/[^/]+/[^/]+")
RECONNECT_PATH = re.compile(r"/reconnect/(?P<id>[^/]+)")
CONTROL_PREFIX = "/_sandbox/"
RECONNECT_PAGE = (
    "<html><body><h1>Reconnect {id}</h1>"
    '<form method="post"><button>Reconnect</button></form></body></html>'
)


def handle(sb: Sandbox, req: RecordedRequest) -> Response | None:
    """Answer Slack, webhook and reconnect requests; ``None`` for other paths."""
    if req.method == "POST" and SLACK_PATH.fullmatch(req.path):
        return slack(sb, req)
    if req.method == "POST" and req.path.rstrip("/") == "/webhook":
        sb.count("webhook")
        sb.sleep(sb.state.webhook_delay)
        return json_response(200, {"ok": True})
    match = RECONNECT_PATH.fullmatch(req.path)
    if match and req.method == "GET":
        return text_response(200, RECONNECT_PAGE.format(id=match["id"]), "text/html")
    if match and req.method == "POST":
        if match["id"] not in sb.state.accounts:
            return text_response(404, "no such account")
        sb.set_account_sources(match["id"], ["OK"], disconnected=False)
        return text_response(200, "reconnected")
    return None


def slack(sb: Sandbox, req: RecordedRequest) -> Response:
    fail = sb.state.slack_fail
    if fail:
        return text_response(int(fail.get("status", 500)), str(fail.get("body", "")))
    payload = req.json
    if not isinstance(payload, dict):
        return text_response(400, "invalid_payload")
    if not payload.get("text") and not payload.get("blocks"):
        return text_response(400, "no_text")
    with sb.state.lock:
        sb.state.slack_messages.append(payload)
    return text_response(200, "ok")


def handle_control(sb: Sandbox, req: RecordedRequest) -> Response:
    """The HTTP twin of the Python controls; answers 400 on bad arguments."""
    body: dict[str, Any] = req.json if isinstance(req.json, dict) else {}
    try:
        answer = _control(sb, req, req.path[len(CONTROL_PREFIX) :].strip("/"), body)
    except (TypeError, ValueError, KeyError, re.error) as exc:
        return json_response(400, {"error": f"{type(exc).__name__}: {exc}"})
    if answer is None:
        return json_response(404, {"error": f"no control {req.method} {req.path}"})
    return answer


def _control(
    sb: Sandbox, req: RecordedRequest, name: str, body: dict[str, Any]
) -> Response | None:
    ok = json_response(200, {"ok": True})
    route = (req.method, name)
    if route == ("POST", "faults"):
        sb.add_fault(**body)
        return ok
    if route == ("DELETE", "faults"):
        sb.clear_faults()
        return ok
    if route == ("GET", "requests"):
        prefix, method = req.first("prefix") or "", req.first("method")
        items = [item.to_dict() for item in sb.requests(prefix, method)]
        return json_response(200, {"requests": items})
    if route == ("DELETE", "requests"):
        sb.clear_requests()
        return ok
    if route == ("POST", "latency"):
        sb.set_latency(float(body["seconds"]), str(body.get("path", ".*")))
        return ok
    if route == ("POST", "ghl-rate-limit"):
        sb.set_ghl_rate_limit(
            body.get("location_id"),
            int(body["limit"]),
            float(body["interval_seconds"]),
            retry_after=body.get("retry_after"),
        )
        return ok
    if route == ("GET", "stats"):
        return json_response(200, {"stats": sb.stats, "sent": _sent_counts(sb)})
    match = re.fullmatch(r"accounts/(?P<id>[^/]+)/sources", name)
    if match and req.method == "POST":
        statuses = [str(status) for status in body["statuses"]]
        sb.set_account_sources(
            match["id"], statuses, disconnected=body.get("disconnected")
        )
        return ok
    return None


def _sent_counts(sb: Sandbox) -> dict[str, int]:
    with sb.state.lock:
        counts: dict[str, int] = {}
        for item in sb.state.sent:
            counts[item["kind"]] = counts.get(item["kind"], 0) + 1
        counts["slack"] = len(sb.state.slack_messages)
    return counts
