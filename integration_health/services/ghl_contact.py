"""Finding or creating a lead's GHL contact, without ever guessing.

The search comes first, always: a create or upsert that failed may still have
written the contact, so the next attempt must find it rather than create a
second one. Two different contacts for one lead (the e-mail matches one, the
phone another) are left to a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from integration_health.errors import Category, ProviderError


class Outcome(StrEnum):
    DONE = "done"
    NEEDS_OPERATOR = "needs_operator"
    FAILED = "failed"


@dataclass(frozen=True)
class ContactResult:
    """What one attempt found: an ID, a reason for a person, or a failure."""

    outcome: Outcome
    contact_id: str | None = None
    category: Category | None = None
    http_status: int | None = None
    code: str | None = None
    detail: str = ""
    error: ProviderError | None = None
    created: bool = False


class ContactApi(Protocol):
    """The part of :class:`~integration_health.clients.ghl.GhlClient` used here."""

    def find_duplicate(
        self,
        token: str,
        location_id: str,
        *,
        email: str | None = None,
        number: str | None = None,
    ) -> str | None: ...

    def upsert_contact(
        self,
        token: str,
        location_id: str,
        *,
        email: str | None,
        phone: str | None,
        first_name: str | None,
        last_name: str | None,
    ) -> object: ...


@dataclass(frozen=True)
class LeadContact:
    """The fields of a lead the repair needs (already normalised on import)."""

    contact_id: str | None
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None


def _missing_setup(token: str | None, location_id: str | None) -> ContactResult | None:
    if token and location_id:
        return None
    missing = "API key" if not token else "location ID"
    return ContactResult(
        Outcome.FAILED,
        category=Category.MISSING_CREDENTIALS,
        code="no_workspace_credentials",
        detail=f"workspace has no GHL {missing}",
    )


def ensure_contact_id(
    api: ContactApi, token: str | None, location_id: str | None, lead: LeadContact
) -> ContactResult:
    """Return the lead's GHL contact ID: existing, found, or newly upserted."""
    if lead.contact_id:
        return ContactResult(Outcome.DONE, contact_id=lead.contact_id)
    if not lead.email and not lead.phone:
        return ContactResult(
            Outcome.NEEDS_OPERATOR,
            category=Category.VALIDATION_ERROR,
            code="no_email_or_phone",
            detail="lead has neither a usable e-mail nor a phone number",
        )
    problem = _missing_setup(token, location_id)
    if problem is not None:
        return problem
    assert token is not None and location_id is not None
    try:
        return _search_then_upsert(api, token, location_id, lead)
    except ProviderError as err:
        return ContactResult(
            Outcome.FAILED,
            category=err.category,
            http_status=err.status,
            code=err.code,
            detail=err.detail,
            error=err,
        )


def _search_then_upsert(
    api: ContactApi, token: str, location_id: str, lead: LeadContact
) -> ContactResult:
    by_email = (
        api.find_duplicate(token, location_id, email=lead.email) if lead.email else None
    )
    by_phone = (
        api.find_duplicate(token, location_id, number=lead.phone)
        if lead.phone
        else None
    )
    if by_email and by_phone and by_email != by_phone:
        return ContactResult(
            Outcome.NEEDS_OPERATOR,
            category=Category.VALIDATION_ERROR,
            code="ambiguous_contact",
            detail=(
                f"e-mail matches contact {by_email}, phone matches contact "
                f"{by_phone}; merge them in GHL or set ghl_contact_id"
            ),
        )
    found = by_email or by_phone
    if found:
        return ContactResult(Outcome.DONE, contact_id=found)
    result = api.upsert_contact(
        token,
        location_id,
        email=lead.email,
        phone=lead.phone,
        first_name=lead.first_name,
        last_name=lead.last_name,
    )
    contact_id = getattr(result, "contact_id", None)
    if not contact_id:
        raise ProviderError(
            Category.UNKNOWN, provider="ghl", detail="no contact id in response"
        )
    return ContactResult(Outcome.DONE, contact_id=str(contact_id), created=True)
