"""Unipile result shapes, and the health an account's sources imply.

Pure data and functions, kept apart from the HTTP client so that services
and tests can judge an account without a request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from integration_health.clients import transport as tx
from integration_health.errors import Category
from integration_health.states import HealthStatus

PROVIDER = "unipile"


@dataclass(frozen=True)
class Source:
    id: str
    status: str


@dataclass(frozen=True)
class Account:
    id: str
    type: str
    name: str | None
    created_at: datetime | None
    sources: tuple[Source, ...]
    provider_id: str | None = None
    public_identifier: str | None = None


@dataclass(frozen=True)
class AccountHealth:
    """``status`` None means CONNECTING: check again later, change nothing."""

    status: HealthStatus | None
    category: Category | None
    code: str | None


@dataclass(frozen=True)
class Profile:
    provider_id: str
    public_identifier: str | None
    is_relationship: bool | None
    network_distance: str | None
    has_invitation: bool


@dataclass(frozen=True)
class ChatStarted:
    chat_id: str | None
    message_id: str | None


@dataclass(frozen=True)
class MessageSent:
    message_id: str | None


@dataclass(frozen=True)
class InvitationSent:
    invitation_id: str | None
    usage: float | None


#: Source status, worst first, to (health, category) when it is the worst.
_SOURCE_RULES: tuple[tuple[str, HealthStatus, Category], ...] = (
    ("CREDENTIALS", HealthStatus.DISCONNECTED, Category.DISCONNECTED_ACCOUNT),
    ("PERMISSIONS", HealthStatus.DEGRADED, Category.PERMISSION_DENIED),
    ("ERROR", HealthStatus.DEGRADED, Category.SERVER_ERROR),
    ("STOPPED", HealthStatus.DEGRADED, Category.SERVER_ERROR),
)
_KNOWN_SOURCE_STATUSES = {"OK", "CONNECTING"} | {rule[0] for rule in _SOURCE_RULES}


def account_health(account: Account) -> AccountHealth:
    """The health an account's sources imply (table in providers/unipile.md).

    The worst source wins: any CREDENTIALS disconnects even if another source
    is OK. A status we do not know, or no source at all, is DEGRADED with
    code ``unknown`` rather than trusted.
    """
    statuses = {source.status.upper() for source in account.sources}
    for status, health, category in _SOURCE_RULES:
        if status in statuses:
            return AccountHealth(health, category, status)
    if not statuses or statuses - _KNOWN_SOURCE_STATUSES:
        return AccountHealth(HealthStatus.DEGRADED, Category.UNKNOWN, "unknown")
    if "CONNECTING" in statuses:
        return AccountHealth(None, None, "CONNECTING")
    return AccountHealth(HealthStatus.OK, None, None)


def parse_account(raw: object) -> Account:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise tx.shape_error(PROVIDER)
    sources_raw = raw.get("sources") or []
    if not isinstance(sources_raw, list):
        raise tx.shape_error(PROVIDER)
    im = (raw.get("connection_params") or {}).get("im") or {}
    im = im if isinstance(im, dict) else {}
    return Account(
        id=raw["id"],
        type=str(raw.get("type") or ""),
        name=raw.get("name") if isinstance(raw.get("name"), str) else None,
        created_at=tx.parse_datetime(raw.get("created_at")),
        sources=tuple(_parse_sources(sources_raw)),
        provider_id=optional_str(im.get("id")),
        public_identifier=optional_str(im.get("publicIdentifier")),
    )


def _parse_sources(items: Iterable[object]) -> Iterable[Source]:
    for item in items:
        if isinstance(item, dict):
            yield Source(id=str(item.get("id") or ""), status=str(item.get("status")))


def optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
