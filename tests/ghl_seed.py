"""Seeding helpers for GHL repair and SMS sync tests: real rows, real sandbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from integration_health.config import Settings
from integration_health.db import session_scope
from integration_health.models import Lead, Workspace
from integration_health.sandbox import Sandbox
from tests.conftest import make_settings

TOKEN = "pit-secret-token-aaaa"
LOCATION = "loc_alpha"


def scenario(**ghl: Any) -> dict[str, Any]:
    """A GHL-only scenario with one location (extra keys merged into ``ghl``)."""
    base: dict[str, Any] = {
        "locations": {LOCATION: {"token": TOKEN}},
        "contacts": [],
        "conversations": [],
        "messages": {},
    }
    base.update(ghl)
    return {"ghl": base}


def settings_for(sb: Sandbox, **extra: str) -> Settings:
    env = {
        "GHL_BASE_URL": sb.ghl_base_url,
        "HTTP_READ_TIMEOUT": "0.5",
        "HTTP_CONNECT_TIMEOUT": "0.5",
        "RETRY_AFTER_CAP_SECONDS": "5",
        "REPAIR_BACKOFF_BASE_SECONDS": "60",
        "REPAIR_BACKOFF_CAP_SECONDS": "3600",
    }
    env.update(extra)
    return make_settings(**env)


def add_workspace(
    engine: Engine,
    external_id: str = "ws-alpha",
    *,
    token: str | None = TOKEN,
    location: str | None = LOCATION,
) -> int:
    with session_scope(engine) as session:
        ws = Workspace(
            external_id=external_id,
            name=f"Workspace {external_id}",
            ghl_location_id=location,
            ghl_api_key=token,
        )
        session.add(ws)
        session.flush()
        return int(ws.id or 0)


def add_lead(
    engine: Engine,
    workspace_id: int,
    external_id: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    contact_id: str | None = None,
) -> int:
    with session_scope(engine) as session:
        lead = Lead(
            external_id=external_id,
            workspace_id=workspace_id,
            first_name="Ada",
            last_name="Lovelace",
            email=email,
            phone=phone,
            ghl_contact_id=contact_id,
        )
        session.add(lead)
        session.flush()
        return int(lead.id or 0)
