"""Import the platform's workspaces, leads, sequences and enrollments.

Every import is idempotent: rows are matched by their natural key (external
ID, or workspace and name) and a second run of the same file changes
nothing. One import is one transaction; ``dry_run`` runs it and rolls back,
so the report is exactly what a real run would do. Leads are read and
written in chunks (one lookup and one bulk write per chunk), so that a file
of 100,000 leads costs a few hundred statements, not a few hundred thousand.

Decisions: a column absent from the file leaves the stored value alone; an
empty ``ghl_contact_id`` never clears one (the repair job may have set it);
a lead is never moved to another workspace (the row is skipped); a new
``linkedin_url`` lifts the lead's LinkedIn quarantine only when it names
another profile (same slug, same profile, same quarantine).

Known limitation: phone parsing (``phonenumbers``) dominates the cost of a
leads import, about half a millisecond a number on a small machine; the
database work for 100,000 leads takes a few seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from integration_health.db import session_scope
from integration_health.linkedin import linkedin_slug
from integration_health.models import Lead, PausedReason, Workspace, utcnow
from integration_health.redact import register_secret
from integration_health.services.import_files import (
    ImportReport,
    Row,
    read_rows,
    text_value,
)
from integration_health.services.instances import resume_instances

CHUNK = 1000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
_WORKSPACE_FIELDS = (
    "name",
    "ghl_location_id",
    "ghl_api_key",
    "unipile_account_id",
    "country",
)
_LEAD_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "linkedin_url",
    "ghl_contact_id",
)
_RELINK_CLEARS = {
    "linkedin_unreachable_at": None,
    "linkedin_unreachable_reason": None,
    "linkedin_provider_id": None,
    "linkedin_chat_id": None,
}


class ImportKind(StrEnum):
    WORKSPACES = "workspaces"
    LEADS = "leads"
    SEQUENCES = "sequences"
    ENROLLMENTS = "enrollments"


REQUIRED: dict[ImportKind, tuple[str, ...]] = {
    ImportKind.WORKSPACES: ("external_id", "name"),
    ImportKind.LEADS: ("external_id", "workspace_external_id"),
    ImportKind.SEQUENCES: ("name", "workspace_external_id", "steps"),
    ImportKind.ENROLLMENTS: ("lead_external_id", "sequence_name"),
}

Importer = Callable[[Session, list[Row], ImportReport, datetime], None]


def import_file(
    engine: Engine,
    kind: ImportKind,
    path: Path,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ImportReport:
    """Import ``path`` as ``kind``; raises ConfigError for a file-level problem."""
    from integration_health.services import import_followups

    importers: dict[ImportKind, Importer] = {
        ImportKind.WORKSPACES: import_workspaces,
        ImportKind.LEADS: import_leads,
        ImportKind.SEQUENCES: import_followups.import_sequences,
        ImportKind.ENROLLMENTS: import_followups.import_enrollments,
    }
    rows = read_rows(path, REQUIRED[kind])
    report = ImportReport(kind=kind.value, path=str(path), dry_run=dry_run)
    with session_scope(engine) as session:
        importers[kind](session, rows, report, now or utcnow())
        if dry_run:
            session.rollback()
    return report


def chunks(items: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def first_seen(seen: dict[Any, int], key: Any, row: Row, report: ImportReport) -> bool:
    """True for the first row with ``key``; later ones are reported and skipped."""
    if key in seen:
        report.skip(row.line, f"duplicate of line {seen[key]}")
        return False
    seen[key] = row.line
    return True


def too_long(table: sa.Table, values: dict[str, Any]) -> str | None:
    """Why a row cannot be stored as given: a value longer than its column.

    PostgreSQL would refuse the whole import at the first such value, and
    SQLite would keep it whole; both now skip that row and say why.
    """
    for name, value in values.items():
        column = table.c.get(name)
        limit = getattr(getattr(column, "type", None), "length", None)
        if isinstance(value, str) and limit is not None and len(value) > limit:
            return f"{name} is longer than {limit} characters"
    return None


def normalize_phone(value: str | None, region: str) -> str | None:
    """E.164 form of ``value`` read in ``region``, or None if not a valid number."""
    if not value:
        return None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str | None) -> str | None:
    """Trimmed, lower-cased ``value``, or None if it is not an address."""
    if not value:
        return None
    email = value.strip().lower()
    return email if _EMAIL.match(email) else None


def valid_country(value: str | None) -> str | None:
    code = (value or "").strip().upper()
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


# -- workspaces ---------------------------------------------------------------

_WORKSPACES: sa.Table = Workspace.__table__  # type: ignore[attr-defined]
_LEADS: sa.Table = Lead.__table__  # type: ignore[attr-defined]


def _workspace_fields(row: Row, report: ImportReport) -> dict[str, Any] | None:
    fields = {
        k: text_value(row.values, k) for k in _WORKSPACE_FIELDS if k in row.values
    }
    register_secret(fields.get("ghl_api_key"))
    if not fields.get("name"):
        report.skip(row.line, "missing name")
        return None
    if "country" in fields:
        if fields["country"] is None:
            del fields["country"]
        else:
            fields["country"] = valid_country(fields["country"])
            if fields["country"] is None:
                report.skip(row.line, "country is not an ISO 3166 alpha-2 code")
                return None
    return fields


def import_workspaces(
    session: Session, rows: list[Row], report: ImportReport, now: datetime
) -> None:
    """Upsert workspaces by ``external_id``; an empty country means US."""
    parsed: dict[str, tuple[int, dict[str, Any]]] = {}
    seen: dict[Any, int] = {}
    for row in rows:
        external_id = text_value(row.values, "external_id")
        if row.error or not external_id:
            report.skip(row.line, row.error or "missing external_id")
            continue
        fields = _workspace_fields(row, report)
        if fields is None:
            continue
        problem = too_long(_WORKSPACES, {"external_id": external_id, **fields})
        if problem is not None:
            report.skip(row.line, problem)
        elif first_seen(seen, external_id, row, report):
            parsed[external_id] = (row.line, fields)
    for keys in chunks(list(parsed)):
        existing = {
            ws.external_id: ws
            for ws in session.exec(
                select(Workspace).where(col(Workspace.external_id).in_(keys))
            )
        }
        for external_id in keys:
            _upsert_workspace(
                session,
                existing.get(external_id),
                external_id,
                parsed[external_id][1],
                report,
                now,
            )
    session.flush()


def _upsert_workspace(
    session: Session,
    workspace: Workspace | None,
    external_id: str,
    fields: dict[str, Any],
    report: ImportReport,
    now: datetime,
) -> None:
    if workspace is None:
        session.add(
            Workspace(external_id=external_id, created_at=now, updated_at=now, **fields)
        )
        report.created += 1
        return
    changed = {k: v for k, v in fields.items() if getattr(workspace, k) != v}
    if not changed:
        report.unchanged += 1
        return
    for key, value in changed.items():
        setattr(workspace, key, value)
    workspace.updated_at = now
    report.updated += 1


# -- leads --------------------------------------------------------------------


def _lead_fields(row: Row, country: str, report: ImportReport) -> dict[str, Any]:
    """Normalised values of the lead columns present in ``row``."""
    fields = {k: text_value(row.values, k) for k in _LEAD_FIELDS if k in row.values}
    if fields.get("phone"):
        fields["phone"] = normalize_phone(fields["phone"], country)
        if fields["phone"] is None:
            report.warn(row.line, "invalid phone")
    if fields.get("email"):
        fields["email"] = normalize_email(fields["email"])
        if fields["email"] is None:
            report.warn(row.line, "invalid email")
    if "linkedin_url" in fields:
        fields["linkedin_identifier"] = linkedin_slug(fields["linkedin_url"])
        if fields["linkedin_url"] and fields["linkedin_identifier"] is None:
            report.warn(row.line, "linkedin_url is not a profile URL")
    if "ghl_contact_id" in fields and fields["ghl_contact_id"] is None:
        del fields["ghl_contact_id"]
    return fields


def import_leads(
    session: Session, rows: list[Row], report: ImportReport, now: datetime
) -> None:
    """Upsert leads by ``external_id``, chunk by chunk."""
    workspaces = {
        external_id: (ws_id, country)
        for ws_id, external_id, country in session.execute(
            sa.select(
                col(Workspace.id), col(Workspace.external_id), col(Workspace.country)
            )
        )
    }
    seen: dict[Any, int] = {}
    batch: list[tuple[Row, str, int, dict[str, Any]]] = []
    for row in rows:
        external_id = text_value(row.values, "external_id")
        ws_key = text_value(row.values, "workspace_external_id")
        if row.error or not external_id or not ws_key:
            report.skip(row.line, row.error or "missing external_id or workspace")
            continue
        if ws_key not in workspaces:
            report.skip(row.line, "unknown workspace_external_id")
            continue
        ws_id, country = workspaces[ws_key]
        fields = _lead_fields(row, country, report)
        problem = too_long(_LEADS, {"external_id": external_id, **fields})
        if problem is not None:
            report.skip(row.line, problem)
            continue
        if not first_seen(seen, external_id, row, report):
            continue
        batch.append((row, external_id, ws_id, fields))
    for part in chunks(batch):
        _write_leads(session, part, report, now)


def _write_leads(
    session: Session,
    part: list[tuple[Row, str, int, dict[str, Any]]],
    report: ImportReport,
    now: datetime,
) -> None:
    table = Lead.__table__  # type: ignore[attr-defined]
    names = ["id", "external_id", "workspace_id", "linkedin_identifier", *_LEAD_FIELDS]
    columns = [table.c[name] for name in names]
    keys = [external_id for _, external_id, _, _ in part]
    existing = {
        found.external_id: found
        for found in session.execute(
            sa.select(*columns).where(table.c.external_id.in_(keys))
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    relinked: list[int] = []
    for row, external_id, ws_id, fields in part:
        old = existing.get(external_id)
        if old is None:
            inserts.append(_new_lead(external_id, ws_id, fields, now))
            continue
        if old.workspace_id != ws_id:
            report.skip(row.line, "lead belongs to another workspace")
            continue
        changed = {k: v for k, v in fields.items() if getattr(old, k) != v}
        if not changed:
            report.unchanged += 1
            continue
        if "linkedin_identifier" in changed:
            changed.update(_RELINK_CLEARS)
            relinked.append(old.id)
        updates.append({"id": old.id, "updated_at": now, **changed})
    report.created += len(inserts)
    report.updated += len(updates)
    if inserts:
        session.execute(sa.insert(Lead), inserts)
    if updates:
        session.execute(sa.update(Lead), updates)
    if relinked:
        report.resumed += resume_instances(
            session,
            reason=PausedReason.LINKEDIN_UNREACHABLE.value,
            now=now,
            lead_ids=relinked,
        )


def _new_lead(
    external_id: str, ws_id: int, fields: dict[str, Any], now: datetime
) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(_LEAD_FIELDS)
    values["linkedin_identifier"] = None
    values.update(fields)
    values.update(
        external_id=external_id, workspace_id=ws_id, created_at=now, updated_at=now
    )
    return values
