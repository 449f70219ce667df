"""Import follow-up sequences (with their steps) and enrollments of leads.

Sequences are matched by (workspace, name); their steps are replaced only
when they differ, and the instances already in the sequence get the channel
of the step they now stand on. Enrollments are matched by (lead, sequence):
an existing enrollment is never restarted.

Known limitation: replacing steps keeps each instance's ``current_step``
position; when the new sequence is shorter, an instance past its end has no
current channel and is left for the follow-up runner to complete.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from integration_health.models import (
    Channel,
    FollowUpInstance,
    FollowUpSequence,
    FollowUpStep,
    InstanceStatus,
    Lead,
    Workspace,
)
from integration_health.services.import_files import ImportReport, Row, text_value
from integration_health.services.importing import chunks, first_seen, too_long

Step = tuple[str, float, str]
#: The longest wait before a step: ten years. Past it a step is a typo, and
#: adding it to a time would overflow what a datetime can hold.
MAX_DELAY_HOURS = 10 * 365 * 24
_CHANNELS = {channel.value for channel in Channel}
_SEQ = FollowUpSequence.__table__  # type: ignore[attr-defined]
_STEP = FollowUpStep.__table__  # type: ignore[attr-defined]
_SEQUENCES = FollowUpSequence.__table__  # type: ignore[attr-defined]
_INST = FollowUpInstance.__table__  # type: ignore[attr-defined]
_LEAD = Lead.__table__  # type: ignore[attr-defined]


def parse_steps(value: Any) -> list[Step] | str:
    """The steps of a sequence, or the reason they are not acceptable."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return "steps is not a JSON list"
    if not isinstance(value, list) or not value:
        return "steps must be a non-empty list"
    steps: list[Step] = []
    for number, step in enumerate(value, start=1):
        if not isinstance(step, dict) or step.get("channel") not in _CHANNELS:
            return (
                f"step {number}: channel must be one of {', '.join(sorted(_CHANNELS))}"
            )
        try:
            delay = float(step.get("delay_hours", 0) or 0)
        except (TypeError, ValueError):
            delay = -1.0
        if not 0 <= delay <= MAX_DELAY_HOURS or not math.isfinite(delay):
            return (
                f"step {number}: delay_hours must be a number from 0 to "
                f"{MAX_DELAY_HOURS} (10 years)"
            )
        template = step.get("template", "")
        if not isinstance(template, str):
            return f"step {number}: template must be text"
        if len(template) > _STEP.c.template.type.length:
            limit = _STEP.c.template.type.length
            return f"step {number}: template is longer than {limit} characters"
        steps.append((step["channel"], delay, template))
    return steps


def import_sequences(
    session: Session, rows: list[Row], report: ImportReport, now: datetime
) -> None:
    """Upsert sequences by (workspace, name), replacing steps that changed."""
    ws = Workspace.__table__  # type: ignore[attr-defined]
    workspaces: dict[str | None, int] = {
        external_id: ws_id
        for external_id, ws_id in session.execute(sa.select(ws.c.external_id, ws.c.id))
    }
    seen: dict[Any, int] = {}
    for row in rows:
        name = text_value(row.values, "name")
        ws_id = workspaces.get(text_value(row.values, "workspace_external_id"))
        steps = parse_steps(row.values.get("steps"))
        if row.error or not name:
            report.skip(row.line, row.error or "missing name")
        elif ws_id is None:
            report.skip(row.line, "unknown workspace_external_id")
        elif (problem := too_long(_SEQUENCES, {"name": name})) is not None:
            report.skip(row.line, problem)
        elif isinstance(steps, str):
            report.skip(row.line, steps)
        elif first_seen(seen, (ws_id, name), row, report):
            _upsert_sequence(session, ws_id, name, steps, report, now)


def _upsert_sequence(
    session: Session,
    ws_id: int,
    name: str,
    steps: list[Step],
    report: ImportReport,
    now: datetime,
) -> None:
    seq_id = session.execute(
        sa.select(_SEQ.c.id).where(_SEQ.c.workspace_id == ws_id, _SEQ.c.name == name)
    ).scalar()
    if seq_id is None:
        seq_id = session.execute(
            sa.insert(_SEQ)
            .values(workspace_id=ws_id, name=name, created_at=now)
            .returning(_SEQ.c.id)
        ).scalar_one()
        _insert_steps(session, seq_id, steps)
        report.created += 1
        return
    current = session.execute(
        sa.select(_STEP.c.channel, _STEP.c.delay_hours, _STEP.c.template)
        .where(_STEP.c.sequence_id == seq_id)
        .order_by(_STEP.c.position)
    ).all()
    if [tuple(step) for step in current] == steps:
        report.unchanged += 1
        return
    session.execute(sa.delete(_STEP).where(_STEP.c.sequence_id == seq_id))
    _insert_steps(session, seq_id, steps)
    _refresh_channels(session, seq_id, now)
    report.updated += 1


def _insert_steps(session: Session, seq_id: int, steps: list[Step]) -> None:
    session.execute(
        sa.insert(_STEP),
        [
            {
                "sequence_id": seq_id,
                "position": position,
                "channel": channel,
                "delay_hours": delay,
                "template": template,
            }
            for position, (channel, delay, template) in enumerate(steps)
        ],
    )


def _refresh_channels(session: Session, seq_id: int, now: datetime) -> None:
    """Give unfinished instances the channel of the step they now stand on."""
    channel = (
        sa.select(_STEP.c.channel)
        .where(_STEP.c.sequence_id == seq_id, _STEP.c.position == _INST.c.current_step)
        .scalar_subquery()
    )
    session.execute(
        sa.update(_INST)
        .where(
            _INST.c.sequence_id == seq_id,
            _INST.c.status.in_(
                [InstanceStatus.ACTIVE.value, InstanceStatus.PAUSED.value]
            ),
        )
        .values(current_channel=channel, updated_at=now)
    )


def _parse_start(value: str | None, now: datetime) -> datetime | str:
    """ISO-8601 start time (naive means UTC); absent means now.

    Returns the reason instead when the value is not a usable time.
    """
    if value is None:
        return now
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        return "start_at is not an ISO-8601 time"
    if start.tzinfo is None:
        return start.replace(tzinfo=UTC)
    try:
        return start.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset
        return "start_at in UTC is outside the years 1 to 9999"


def _first_run_at(start: datetime, delay_hours: float) -> datetime | None:
    """When the first step runs; None when that is past the year 9999."""
    try:
        return start + timedelta(hours=delay_hours)
    except OverflowError:
        return None


def import_enrollments(
    session: Session, rows: list[Row], report: ImportReport, now: datetime
) -> None:
    """Enroll leads in sequences of their own workspace, once per pair."""
    first_steps = {
        (ws_id, name): (seq_id, channel, delay)
        for seq_id, ws_id, name, channel, delay in session.execute(
            sa.select(
                _SEQ.c.id,
                _SEQ.c.workspace_id,
                _SEQ.c.name,
                _STEP.c.channel,
                _STEP.c.delay_hours,
            ).join(_STEP, (_STEP.c.sequence_id == _SEQ.c.id) & (_STEP.c.position == 0))
        )
    }
    valid: list[tuple[Row, str, str, datetime]] = []
    for row in rows:
        lead_key = text_value(row.values, "lead_external_id")
        name = text_value(row.values, "sequence_name")
        start = _parse_start(text_value(row.values, "start_at"), now)
        if row.error or not lead_key or not name:
            report.skip(row.line, row.error or "missing lead or sequence")
        elif isinstance(start, str):
            report.skip(row.line, start)
        else:
            valid.append((row, lead_key, name, start))
    seen: dict[Any, int] = {}
    for part in chunks(valid):
        _write_enrollments(session, part, first_steps, seen, report, now)


def _write_enrollments(
    session: Session,
    part: list[tuple[Row, str, str, datetime]],
    first_steps: dict[tuple[int, str], tuple[int, str, float]],
    seen: dict[Any, int],
    report: ImportReport,
    now: datetime,
) -> None:
    leads = {
        external_id: (lead_id, ws_id)
        for external_id, lead_id, ws_id in session.execute(
            sa.select(_LEAD.c.external_id, _LEAD.c.id, _LEAD.c.workspace_id).where(
                _LEAD.c.external_id.in_({key for _, key, _, _ in part})
            )
        )
    }
    enrolled = {
        (lead_id, seq_id)
        for lead_id, seq_id in session.execute(
            sa.select(_INST.c.lead_id, _INST.c.sequence_id).where(
                _INST.c.lead_id.in_([lead_id for lead_id, _ in leads.values()])
            )
        )
    }
    inserts: list[dict[str, Any]] = []
    for row, lead_key, name, start in part:
        if lead_key not in leads:
            report.skip(row.line, "unknown lead_external_id")
            continue
        lead_id, ws_id = leads[lead_key]
        if (ws_id, name) not in first_steps:
            report.skip(row.line, "no sequence of that name in the lead's workspace")
            continue
        seq_id, channel, delay = first_steps[(ws_id, name)]
        next_run_at = _first_run_at(start, delay)
        if next_run_at is None:
            report.skip(
                row.line, "start_at plus the first step's delay_hours is past 9999"
            )
            continue
        if not first_seen(seen, (lead_id, seq_id), row, report):
            continue
        if (lead_id, seq_id) in enrolled:
            report.unchanged += 1
            continue
        inserts.append(
            {
                "lead_id": lead_id,
                "sequence_id": seq_id,
                "workspace_id": ws_id,
                "current_step": 0,
                "current_channel": channel,
                "next_run_at": next_run_at,
                "status": InstanceStatus.ACTIVE.value,
                "created_at": now,
                "updated_at": now,
            }
        )
    if inserts:
        session.execute(sa.insert(_INST), inserts)
    report.created += len(inserts)
