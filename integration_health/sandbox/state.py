"""The sandbox's in-memory world, built from a scenario and changed by requests.

Routes read and write it under ``state.lock``; tests read it to count sends.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration_health.errors import ConfigError

DEFAULT_SCENARIO = Path(__file__).with_name("default_scenario.json")
DEFAULT_API_KEY = "sandbox-unipile-key"
SCENARIO_KEYS = {"unipile", "ghl", "slack", "webhook"}
PAGE_SHAPES = {"nested", "flat"}
Json = dict[str, Any]


@dataclass
class SandboxState:
    """Everything the fake providers know; mutate only under ``lock``."""

    unipile_api_key: str = DEFAULT_API_KEY
    accounts: dict[str, Json] = field(default_factory=dict)
    profiles: dict[str, Json] = field(default_factory=dict)
    chats: dict[str, Json] = field(default_factory=dict)
    sent: list[Json] = field(default_factory=list)
    ghl_locations: dict[str, Json] = field(default_factory=dict)
    contacts: dict[str, Json] = field(default_factory=dict)
    #: (location, lower-case e-mail) and (location, phone digits) -> the first
    #: such contact: duplicate searches stay constant-time at any size.
    contact_by_email: dict[tuple[str, str], Json] = field(default_factory=dict)
    contact_by_phone: dict[tuple[str, str], Json] = field(default_factory=dict)
    conversations: dict[str, Json] = field(default_factory=dict)
    messages: dict[str, list[Json]] = field(default_factory=dict)
    message_page_shape: str = "nested"
    page_size: int = 20
    slack_fail: Json | None = None
    slack_messages: list[Json] = field(default_factory=list)
    webhook_delay: float = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _ids: itertools.count[int] = field(default_factory=itertools.count, repr=False)
    #: Lookups found by a scan, kept so the next is one dict access (checked
    #: on use, so a changed profile or token is never answered from here).
    _profile_seen: dict[str, Json] = field(default_factory=dict, repr=False)
    _token_seen: dict[str, str] = field(default_factory=dict, repr=False)

    def add_contact(self, contact: Json) -> None:
        with self.lock:
            self.contacts[str(contact["id"])] = contact
            self.index_contact(contact)

    def index_contact(self, contact: Json) -> None:
        """(Re)index a contact after it was added or its fields changed."""
        location = str(contact.get("locationId") or "")
        email = str(contact.get("email") or "").lower()
        digits = "".join(ch for ch in str(contact.get("phone") or "") if ch.isdigit())
        with self.lock:
            if email:
                self.contact_by_email.setdefault((location, email), contact)
            if digits:
                self.contact_by_phone.setdefault((location, digits), contact)

    def find_contact(
        self, location_id: str, email: str | None, phone: str | None
    ) -> Json | None:
        """The first contact of the location matching by e-mail, then by phone."""
        digits = "".join(ch for ch in phone or "" if ch.isdigit())
        with self.lock:
            if email:
                found = self.contact_by_email.get((location_id, email.lower()))
                if found is not None:
                    return found
            if digits:
                return self.contact_by_phone.get((location_id, digits))
        return None

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids) + 1:06d}"

    def find_profile(self, identifier: str) -> Json | None:
        """A profile by its scenario key, provider ID or public slug."""
        if identifier in self.profiles:
            return self.profiles[identifier]
        seen = self._profile_seen.get(identifier)
        if seen is not None and _names(seen, identifier):
            return seen
        for profile in self.profiles.values():
            if _names(profile, identifier):
                self._profile_seen[identifier] = profile
                return profile
        return None

    def sent_of(self, kind: str | None = None) -> list[Json]:
        """Unipile sends (``chat``, ``message``, ``invitation``), oldest first."""
        with self.lock:
            return [item for item in self.sent if kind in (None, item["kind"])]

    def record_send(self, kind: str, **fields: Any) -> Json:
        item = {"kind": kind, "at": time.time(), **fields}
        with self.lock:
            self.sent.append(item)
        return item

    def location_of_token(self, token: str) -> tuple[str | None, bool]:
        """(location, owned): the location a GHL token belongs to or is wrong for."""
        seen = self._token_seen.get(token)
        if seen in self.ghl_locations and self.ghl_locations[seen]["token"] == token:
            return seen, True
        for location_id, location in self.ghl_locations.items():
            if location["token"] == token:
                self._token_seen[token] = location_id
                return location_id, True
        for location_id, location in self.ghl_locations.items():
            if token in location["wrong_location_tokens"]:
                return location_id, False
        return None, False


def _names(profile: Json, identifier: str) -> bool:
    return identifier in (profile.get("provider_id"), profile.get("public_identifier"))


def load_scenario(source: Json | Path | str | None) -> Json:
    """The scenario as a dict: ``None`` is the shipped default scenario."""
    if isinstance(source, dict):
        return source
    path = DEFAULT_SCENARIO if source is None else Path(source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read sandbox scenario {path}: {exc.strerror}"
        ) from exc
    except ValueError as exc:
        raise ConfigError(f"sandbox scenario {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"sandbox scenario {path} must be a JSON object")
    return data


def build_state(scenario: Json) -> SandboxState:
    """Validate a scenario and build the state; bad shapes raise ConfigError."""
    unknown = set(scenario) - SCENARIO_KEYS
    if unknown:
        raise ConfigError(
            f"sandbox scenario has unknown keys: {', '.join(sorted(unknown))}; "
            f"accepted: {', '.join(sorted(SCENARIO_KEYS))}"
        )
    state = SandboxState()
    try:
        _load_unipile(state, scenario.get("unipile") or {})
        _load_ghl(state, scenario.get("ghl") or {})
        slack = scenario.get("slack") or {}
        state.slack_fail = dict(slack["fail"]) if slack.get("fail") else None
        state.webhook_delay = float((scenario.get("webhook") or {}).get("delay", 0.0))
    except KeyError as exc:
        raise ConfigError(f"bad sandbox scenario: missing key {exc}") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"bad sandbox scenario: {exc}") from exc
    return state


def _load_unipile(state: SandboxState, unipile: Json) -> None:
    state.unipile_api_key = str(unipile.get("api_key") or DEFAULT_API_KEY)
    for raw in unipile.get("accounts") or []:
        account = dict(raw)
        account_id = str(account["id"])
        account.setdefault("type", "LINKEDIN")
        account.setdefault("name", account_id)
        account.setdefault("created_at", "2026-01-05T09:00:00.000Z")
        account.setdefault("disconnected", False)
        account.setdefault(
            "sources", [{"id": f"{account_id}_MESSAGING", "status": "OK"}]
        )
        account["sources"] = [dict(source) for source in account["sources"]]
        for source in account["sources"]:
            source["id"], source["status"] = str(source["id"]), str(source["status"])
        state.accounts[account_id] = account
    for key, raw in (unipile.get("profiles") or {}).items():
        profile = dict(raw)
        profile.setdefault("provider_id", key)
        profile.setdefault("public_identifier", key)
        profile.setdefault("is_relationship", False)
        profile.setdefault("network_distance", "OUT_OF_NETWORK")
        profile.setdefault("unreachable", False)
        state.profiles[str(key)] = profile


def _load_ghl(state: SandboxState, ghl: Json) -> None:
    for location_id, raw in (ghl.get("locations") or {}).items():
        location = dict(raw)
        location["token"] = str(location["token"])
        location.setdefault("revoked", False)
        location["wrong_location_tokens"] = list(
            location.get("wrong_location_tokens") or []
        )
        location.setdefault("allow_duplicates", True)
        state.ghl_locations[str(location_id)] = location
    for raw in ghl.get("contacts") or []:
        state.add_contact(dict(raw))
    for raw in ghl.get("conversations") or []:
        conversation = {"type": "TYPE_PHONE", "lastMessageType": "TYPE_SMS", **raw}
        state.conversations[str(conversation["id"])] = conversation
    for conversation_id, items in (ghl.get("messages") or {}).items():
        state.messages[str(conversation_id)] = [dict(item) for item in items]
    shape = ghl.get("message_page_shape", "nested")
    if shape not in PAGE_SHAPES:
        raise ValueError(f"message_page_shape {shape!r}; accepted: nested, flat")
    state.message_page_shape = shape
    state.page_size = int(ghl.get("page_size", 20))
    if state.page_size < 1:
        raise ValueError("ghl.page_size must be at least 1")


def rate_limits_of(scenario: Json) -> dict[str, Json]:
    """The per-location ``rate_limit`` entries of a scenario, by location."""
    locations = (scenario.get("ghl") or {}).get("locations") or {}
    return {
        str(location_id): dict(location["rate_limit"])
        for location_id, location in locations.items()
        if isinstance(location, dict) and location.get("rate_limit")
    }
