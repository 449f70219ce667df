"""A local stand-in for Unipile, GHL, Slack and the platform's webhook endpoint.

Tests, benchmarks and ``demo`` run the whole cycle against it without
credentials. Usage::

    with Sandbox(scenario) as sb:
        sb.add_fault("POST", r"^/contacts/upsert$", status=503, times=1)
        ...  # point UNIPILE_DSN at sb.unipile_dsn, GHL_BASE_URL at sb.ghl_base_url
        assert len(sb.state.sent_of("invitation")) == 1

Scenario format (JSON, every key optional; ``None`` loads
``default_scenario.json`` shipped beside this module)::

    {"unipile": {
        "api_key": "...",                   # the X-API-KEY accepted
        "accounts": [{"id", "name", "type": "LINKEDIN", "created_at",
                      "sources": [{"id", "status"}],   # OK, CREDENTIALS, ...
                      "disconnected": false}],         # true: sends get 401
        "profiles": {"<slug or provider id>": {
            "provider_id", "public_identifier", "is_relationship",
            "network_distance", "unreachable": false,
            "error": {"status": 422, "type": "errors/invalid_recipient"}}}},
     "ghl": {
        "locations": {"<location_id>": {
            "token": "...", "revoked": false, "wrong_location_tokens": [...],
            "rate_limit": {"limit": 100, "interval_seconds": 10,
                           "retry_after": null},   # seconds, or no header
            "allow_duplicates": true}},
        "contacts": [{"id", "locationId", "email", "phone", "firstName",
                      "lastName"}],
        "conversations": [{"id", "contactId", "locationId", "type": "TYPE_PHONE"}],
        "messages": {"<conversation_id>": [{"id", "messageType", "type",
                     "direction", "body", "dateAdded", "status", "contactId",
                     "conversationId"}]},       # served in this order
        "message_page_shape": "nested" | "flat", "page_size": 20},
     "slack": {"fail": null | {"status": 404, "body": "no_service"}},
     "webhook": {"delay": 0.0}}

Paths: Unipile under ``/api/v1``; GHL at the root (``/contacts/...``,
``/conversations/...``); Slack at ``/slack/services/T/B/X``; the webhook at
``/webhook``; reconnect pages at ``/reconnect/<account_id>`` (POST reconnects);
controls under ``/_sandbox/`` (faults, requests, latency, ghl-rate-limit,
accounts/<id>/sources, stats).
"""

from integration_health.sandbox.server import Sandbox
from integration_health.sandbox.state import SandboxState, load_scenario
from integration_health.sandbox.wire import RecordedRequest

__all__ = ["RecordedRequest", "Sandbox", "SandboxState", "load_scenario"]
