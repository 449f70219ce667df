"""Imports: idempotency, normalisation, row and file errors, re-linking."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from integration_health.db import make_engine
from integration_health.errors import ConfigError
from integration_health.migrate import upgrade
from integration_health.models import (
    FollowUpInstance,
    FollowUpSequence,
    FollowUpStep,
    JobRun,
    Lead,
    Workspace,
)
from integration_health.services.importing import (
    ImportKind,
    import_file,
    normalize_email,
    normalize_phone,
)
from tests.conftest import run_cli

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WORKSPACES = (
    "external_id,name,ghl_location_id,ghl_api_key,unipile_account_id,country\n"
    "w-gb,Acme,loc-1,pit-0123456789abcdef,acc-1,GB\n"
    "w-us,Beta,loc-2,,acc-2,us\n"
)
LEADS = (
    "external_id,workspace_external_id,first_name,last_name,email,phone,"
    "linkedin_url,ghl_contact_id\n"
    "l1,w-gb,Jane,Doe, Jane.Doe@Example.COM ,020 7946 0958,"
    "https://www.linkedin.com/in/jane-doe/,c-1\n"
    "l2,w-us,Bob,Ray,bob@example.com,(201) 555-0123,linkedin.com/in/bob-ray,\n"
)


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _run(engine: Engine, kind: str, path: Path, **kwargs: Any) -> Any:
    return import_file(engine, ImportKind(kind), path, now=NOW, **kwargs)


def _rows(engine: Engine, model: type[SQLModel]) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return [row.model_dump() for row in session.exec(select(model)).all()]


def _lead(engine: Engine, external_id: str) -> Lead:
    with Session(engine) as session:
        return session.exec(select(Lead).where(Lead.external_id == external_id)).one()


@pytest.fixture
def seeded(engine: Engine, tmp_path: Path) -> Engine:
    _run(engine, "workspaces", _file(tmp_path, "ws.csv", WORKSPACES))
    _run(engine, "leads", _file(tmp_path, "leads.csv", LEADS))
    return engine


def test_second_import_of_the_same_leads_changes_no_row(
    seeded: Engine, tmp_path: Path
) -> None:
    before = _rows(seeded, Lead)
    report = _run(seeded, "leads", tmp_path / "leads.csv")
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert report.skipped == []
    assert _rows(seeded, Lead) == before


def test_second_import_of_the_same_workspaces_changes_no_row(
    seeded: Engine, tmp_path: Path
) -> None:
    before = _rows(seeded, Workspace)
    report = _run(seeded, "workspaces", tmp_path / "ws.csv")
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert _rows(seeded, Workspace) == before


def test_leads_are_normalised_on_import(seeded: Engine) -> None:
    jane, bob = _lead(seeded, "l1"), _lead(seeded, "l2")
    assert (jane.email, jane.phone, jane.linkedin_identifier) == (
        "jane.doe@example.com",
        "+442079460958",
        "jane-doe",
    )
    assert (bob.phone, bob.linkedin_identifier, bob.ghl_contact_id) == (
        "+12015550123",
        "bob-ray",
        None,
    )


def test_changed_field_updates_only_that_lead(seeded: Engine, tmp_path: Path) -> None:
    path = _file(tmp_path, "l.csv", LEADS.replace("Jane,Doe", "Janet,Doe"))
    report = _run(seeded, "leads", path)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert _lead(seeded, "l1").first_name == "Janet"


def test_bad_row_is_reported_by_line_and_the_rest_imported(
    engine: Engine, tmp_path: Path
) -> None:
    _run(engine, "workspaces", _file(tmp_path, "ws.csv", WORKSPACES))
    text = LEADS + "l3,w-nowhere,X,Y,,,,\n,w-gb,No,Id,,,,\nl4,w-gb,Ann,,,,,\n"
    report = _run(engine, "leads", _file(tmp_path, "leads.csv", text))
    assert [(i.line, i.reason) for i in report.skipped] == [
        (4, "unknown workspace_external_id"),
        (5, "missing external_id or workspace"),
    ]
    assert report.created == 3
    assert {row["external_id"] for row in _rows(engine, Lead)} == {"l1", "l2", "l4"}


def test_invalid_phone_and_email_import_the_lead_with_a_warning(
    engine: Engine, tmp_path: Path
) -> None:
    _run(engine, "workspaces", _file(tmp_path, "ws.csv", WORKSPACES))
    text = LEADS.splitlines()[0] + "\nl9,w-gb,Al,,al@@x,+44 12,,\n"
    report = _run(engine, "leads", _file(tmp_path, "leads.csv", text))
    assert report.created == 1 and report.skipped == []
    assert [(i.line, i.reason) for i in report.warnings] == [
        (2, "invalid phone"),
        (2, "invalid email"),
    ]
    assert "+44 12" not in json.dumps(report.as_dict())
    lead = _lead(engine, "l9")
    assert (lead.phone, lead.email) == (None, None)


@pytest.mark.parametrize(
    ("value", "region", "expected"),
    [
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("0044 20 7946 0958", "FR", "+442079460958"),
        ("(201) 555-0123", "US", "+12015550123"),
        ("201.555.0123", "US", "+12015550123"),
        ("+1 201-555-0123", "GB", "+12015550123"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("0612345678", "GB", None),
        ("12", "US", None),
        ("call me", "US", None),
        ("", "US", None),
    ],
)
def test_phone_is_normalised_to_e164(value: str, region: str, expected: str) -> None:
    assert normalize_phone(value, region) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  Jane@Example.COM ", "jane@example.com"),
        ("a.b+tag@sub.example.co.uk", "a.b+tag@sub.example.co.uk"),
        ("no-at-sign.example.com", None),
        ("two@@example.com", None),
        ("jane@localhost", None),
        ("", None),
    ],
)
def test_email_is_trimmed_and_lower_cased(value: str, expected: str | None) -> None:
    assert normalize_email(value) == expected


def _quarantine_with_instances(engine: Engine) -> tuple[int, list[int]]:
    """Quarantine lead l1 and give it three instances: system-paused for
    LinkedIn, person-paused, and system-paused for another reason."""
    with Session(engine) as session:
        lead = session.exec(select(Lead).where(Lead.external_id == "l1")).one()
        lead.linkedin_unreachable_at = NOW
        lead.linkedin_unreachable_reason = "recipient_unreachable"
        lead.linkedin_provider_id, lead.linkedin_chat_id = "ACoAAA123456", "chat-1"
        ids = []
        for n, (by, reason) in enumerate(
            [
                ("system", "linkedin_unreachable"),
                ("person", "linkedin_unreachable"),
                ("system", "ghl_disconnected"),
            ]
        ):
            seq = FollowUpSequence(workspace_id=lead.workspace_id, name=f"s{n}")
            session.add(seq)
            session.flush()
            inst = FollowUpInstance(
                lead_id=lead.id,  # type: ignore[arg-type]
                sequence_id=seq.id,  # type: ignore[arg-type]
                workspace_id=lead.workspace_id,
                status="paused",
                paused_by=by,
                paused_reason=reason,
                paused_at=NOW,
                next_run_at=NOW,
            )
            session.add(inst)
            session.flush()
            ids.append(inst.id)
        session.commit()
        return lead.workspace_id, ids  # type: ignore[return-value]


def test_new_linkedin_profile_clears_quarantine_and_resumes_system_pauses(
    seeded: Engine, tmp_path: Path
) -> None:
    _, (system, person, other) = _quarantine_with_instances(seeded)
    text = LEADS.replace("/in/jane-doe/", "/in/jane-doe-2")
    report = _run(seeded, "leads", _file(tmp_path, "l.csv", text))
    assert (report.updated, report.resumed) == (1, 1)
    lead = _lead(seeded, "l1")
    assert lead.linkedin_identifier == "jane-doe-2"
    assert (
        lead.linkedin_unreachable_at,
        lead.linkedin_unreachable_reason,
        lead.linkedin_provider_id,
        lead.linkedin_chat_id,
    ) == (None, None, None, None)
    statuses = {r["id"]: r["status"] for r in _rows(seeded, FollowUpInstance)}
    assert statuses == {system: "active", person: "paused", other: "paused"}


def test_same_profile_in_another_url_form_keeps_quarantine(
    seeded: Engine, tmp_path: Path
) -> None:
    _quarantine_with_instances(seeded)
    text = LEADS.replace(
        "https://www.linkedin.com/in/jane-doe/", "linkedin.com/in/jane-doe?trk=x"
    )
    report = _run(seeded, "leads", _file(tmp_path, "l.csv", text))
    assert (report.updated, report.resumed) == (1, 0)
    assert _lead(seeded, "l1").linkedin_unreachable_at == NOW


def test_empty_ghl_contact_id_keeps_the_stored_one(
    seeded: Engine, tmp_path: Path
) -> None:
    text = LEADS.replace(",c-1\n", ",\n")
    report = _run(seeded, "leads", _file(tmp_path, "l.csv", text))
    assert report.unchanged == 2
    assert _lead(seeded, "l1").ghl_contact_id == "c-1"


def test_lead_is_never_moved_to_another_workspace(
    seeded: Engine, tmp_path: Path
) -> None:
    text = LEADS.replace("l1,w-gb", "l1,w-us")
    report = _run(seeded, "leads", _file(tmp_path, "l.csv", text))
    assert [(i.line, i.reason) for i in report.skipped] == [
        (2, "lead belongs to another workspace")
    ]


def test_dry_run_reports_changes_and_writes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    _run(engine, "workspaces", _file(tmp_path, "ws.csv", WORKSPACES))
    report = _run(engine, "leads", _file(tmp_path, "l.csv", LEADS), dry_run=True)
    assert report.created == 2
    assert _rows(engine, Lead) == []


def test_workspace_with_bad_country_is_skipped(engine: Engine, tmp_path: Path) -> None:
    text = WORKSPACES + "w-x,Gamma,,,,XX\n"
    report = _run(engine, "workspaces", _file(tmp_path, "ws.csv", text))
    assert [(i.line, i.reason) for i in report.skipped] == [
        (4, "country is not an ISO 3166 alpha-2 code")
    ]
    countries = {r["external_id"]: r["country"] for r in _rows(engine, Workspace)}
    assert countries == {"w-gb": "GB", "w-us": "US"}


def test_lead_with_a_name_longer_than_its_column_is_skipped(
    engine: Engine, tmp_path: Path
) -> None:
    _run(engine, "workspaces", _file(tmp_path, "ws.csv", WORKSPACES))
    text = LEADS + f"l3,w-gb,{'x' * 100_000},Doe,,,,\n"
    report = _run(engine, "leads", _file(tmp_path, "leads.csv", text))
    assert [(i.line, i.reason) for i in report.skipped] == [
        (4, "first_name is longer than 300 characters")
    ]
    assert {row["external_id"] for row in _rows(engine, Lead)} == {"l1", "l2"}


def test_workspace_with_an_external_id_longer_than_its_column_is_skipped(
    engine: Engine, tmp_path: Path
) -> None:
    text = WORKSPACES + f"{'w' * 201},Gamma,,,,US\n"
    report = _run(engine, "workspaces", _file(tmp_path, "ws.csv", text))
    assert [(i.line, i.reason) for i in report.skipped] == [
        (4, "external_id is longer than 200 characters")
    ]
    assert {r["external_id"] for r in _rows(engine, Workspace)} == {"w-gb", "w-us"}


def test_jsonl_leads_import_like_csv(engine: Engine, tmp_path: Path) -> None:
    _run(engine, "workspaces", _file(tmp_path, "ws.csv", WORKSPACES))
    lines = [
        {"external_id": "j1", "workspace_external_id": "w-gb", "phone": "07911 123456"},
        "not json",
        {"external_id": "j2", "workspace_external_id": "w-us"},
    ]
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    report = _run(engine, "leads", _file(tmp_path, "leads.ndjson", text))
    assert report.created == 2
    assert [(i.line, i.reason) for i in report.skipped] == [(2, "not a JSON object")]
    assert _lead(engine, "j1").phone == "+447911123456"


SEQUENCES = [
    {
        "name": "intro",
        "workspace_external_id": "w-gb",
        "steps": [
            {"channel": "linkedin_invite", "delay_hours": 2, "template": "Hi"},
            {"channel": "sms", "delay_hours": 24, "template": "Hello"},
        ],
    }
]


def _steps(engine: Engine) -> list[tuple[int, str, float]]:
    with Session(engine) as session:
        rows = session.exec(select(FollowUpStep).order_by(FollowUpStep.position))
        return [(s.position, s.channel, s.delay_hours) for s in rows]


def test_sequence_steps_are_replaced_only_when_changed(
    seeded: Engine, tmp_path: Path
) -> None:
    path = _file(tmp_path, "seq.json", json.dumps(SEQUENCES, indent=1))
    assert _run(seeded, "sequences", path).created == 1
    step_ids = [r["id"] for r in _rows(seeded, FollowUpStep)]
    assert _run(seeded, "sequences", path).unchanged == 1
    assert [r["id"] for r in _rows(seeded, FollowUpStep)] == step_ids
    changed = json.loads(json.dumps(SEQUENCES))
    changed[0]["steps"][0]["channel"] = "linkedin_message"
    path = _file(tmp_path, "seq2.jsonl", json.dumps(changed[0]))
    assert _run(seeded, "sequences", path).updated == 1
    assert _steps(seeded) == [(0, "linkedin_message", 2.0), (1, "sms", 24.0)]


def test_bad_sequence_is_reported_by_the_line_it_starts_on(
    seeded: Engine, tmp_path: Path
) -> None:
    bad = {"name": "b", "workspace_external_id": "w-gb", "steps": [{"channel": "fax"}]}
    text = json.dumps([*SEQUENCES, bad], indent=1)
    report = _run(seeded, "sequences", _file(tmp_path, "seq.json", text))
    line = text.splitlines().index(" {", 2) + 1
    assert [i.line for i in report.skipped] == [line]
    assert report.skipped[0].reason.startswith("step 1: channel must be one of")


@pytest.mark.parametrize(
    "sequence,reason",
    [
        (
            {"name": "n" * 301, "workspace_external_id": "w-gb", "steps": []},
            "name is longer than 300 characters",
        ),
        (
            {
                "name": "long",
                "workspace_external_id": "w-gb",
                "steps": [{"channel": "sms", "template": "t" * 8001}],
            },
            "step 1: template is longer than 8000 characters",
        ),
    ],
)
def test_sequence_too_long_for_its_columns_is_skipped(
    seeded: Engine, tmp_path: Path, sequence: dict[str, Any], reason: str
) -> None:
    text = json.dumps([*SEQUENCES, sequence])
    report = _run(seeded, "sequences", _file(tmp_path, "seq.json", text))
    assert [i.reason for i in report.skipped] == [reason]
    assert report.created == 1


def test_enrollment_starts_at_first_step_and_is_not_repeated(
    seeded: Engine, tmp_path: Path
) -> None:
    _run(seeded, "sequences", _file(tmp_path, "s.json", json.dumps(SEQUENCES)))
    text = (
        "lead_external_id,sequence_name,start_at\n"
        "l1,intro,2026-04-01T08:00:00+02:00\nl2,intro,\nl1,intro,\nl9,intro,\n"
    )
    path = _file(tmp_path, "enr.csv", text)
    report = _run(seeded, "enrollments", path)
    assert report.created == 1
    assert [(i.line, i.reason) for i in report.skipped] == [
        (3, "no sequence of that name in the lead's workspace"),
        (4, "duplicate of line 2"),
        (5, "unknown lead_external_id"),
    ]
    (row,) = _rows(seeded, FollowUpInstance)
    assert (row["current_step"], row["current_channel"], row["status"]) == (
        0,
        "linkedin_invite",
        "active",
    )
    assert row["next_run_at"] == datetime(2026, 4, 1, 8, tzinfo=UTC)
    assert row["workspace_id"] == _lead(seeded, "l1").workspace_id
    again = _run(
        seeded,
        "enrollments",
        _file(tmp_path, "e2.csv", text.replace("l1,intro,\n", "")),
    )
    assert (again.created, again.unchanged) == (0, 1)


def test_sequence_with_a_delay_past_ten_years_is_skipped_naming_it(
    seeded: Engine, tmp_path: Path
) -> None:
    far = {
        "name": "far",
        "workspace_external_id": "w-gb",
        "steps": [{"channel": "sms", "delay_hours": 1e300}],
    }
    text = json.dumps([*SEQUENCES, far])

    report = _run(seeded, "sequences", _file(tmp_path, "seq.json", text))

    assert [i.reason for i in report.skipped] == [
        "step 1: delay_hours must be a number from 0 to 87600 (10 years)"
    ]
    assert [r["name"] for r in _rows(seeded, FollowUpSequence)] == ["intro"]


def _intro_in_both_workspaces(engine: Engine, tmp_path: Path) -> None:
    both = [SEQUENCES[0], {**SEQUENCES[0], "workspace_external_id": "w-us"}]
    _run(engine, "sequences", _file(tmp_path, "s.json", json.dumps(both)))


def test_enrollment_whose_first_run_is_past_9999_is_skipped_and_the_rest_kept(
    seeded: Engine, tmp_path: Path
) -> None:
    _intro_in_both_workspaces(seeded, tmp_path)
    text = (
        "lead_external_id,sequence_name,start_at\n"
        "l1,intro,9999-12-31T23:59:59\nl2,intro,2026-04-01T08:00:00\n"
    )

    report = _run(seeded, "enrollments", _file(tmp_path, "e.csv", text))

    assert [(i.line, i.reason) for i in report.skipped] == [
        (2, "start_at plus the first step's delay_hours is past 9999")
    ]
    (row,) = _rows(seeded, FollowUpInstance)
    assert row["lead_id"] == _lead(seeded, "l2").id


def test_enrollment_whose_start_at_leaves_the_calendar_in_utc_is_skipped(
    seeded: Engine, tmp_path: Path
) -> None:
    _intro_in_both_workspaces(seeded, tmp_path)
    text = (
        "lead_external_id,sequence_name,start_at\n"
        "l1,intro,0001-01-01T00:00:00+05:00\nl2,intro,\n"
    )

    report = _run(seeded, "enrollments", _file(tmp_path, "e.csv", text))

    assert [(i.line, i.reason) for i in report.skipped] == [
        (2, "start_at in UTC is outside the years 1 to 9999")
    ]
    assert report.created == 1


def test_enrollment_without_start_at_starts_now(seeded: Engine, tmp_path: Path) -> None:
    _run(seeded, "sequences", _file(tmp_path, "s.json", json.dumps(SEQUENCES)))
    text = "lead_external_id,sequence_name\nl1,intro\n"
    _run(seeded, "enrollments", _file(tmp_path, "e.csv", text))
    (row,) = _rows(seeded, FollowUpInstance)
    assert row["next_run_at"] == NOW + timedelta(hours=2)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"  \n", "the file is empty"),
        ("cols.csv", b"external_id,first_name\nl1,A\n", "missing required column"),
        (
            "latin.csv",
            "external_id,workspace_external_id\né,w\n".encode("latin-1"),
            "not UTF-8",
        ),
        ("blob.bin", b"\x00\x01\x02binary", "not CSV or JSON"),
        ("words.txt", b"just some words\n", "not CSV or JSON"),
        ("broken.json", b'[{"external_id": ', "not valid JSON"),
    ],
)
def test_file_level_problem_raises_config_error(
    sqlite_engine: Engine, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        _run(sqlite_engine, "leads", path)


# -- the CLI, end to end -------------------------------------------------------


@pytest.fixture
def cli_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def _cli(url: str, *args: str) -> Any:
    return run_cli("--database-url", url, "import", *args)


def _count(url: str, table: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(count)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (None, b""),
        ("empty.csv", b""),
        ("cols.csv", b"external_id\nl1\n"),
        ("latin.csv", "external_id,workspace_external_id\né,w\n".encode("latin-1")),
        ("blob.dat", b"\x00\xff"),
    ],
)
def test_cli_file_problem_exits_2_in_one_line_and_changes_nothing(
    cli_db: str, tmp_path: Path, name: str | None, content: bytes
) -> None:
    path = tmp_path / (name or "missing.csv")
    if name:
        path.write_bytes(content)
    result = _cli(cli_db, "leads", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}: ")
    assert "Traceback" not in result.stderr
    assert _count(cli_db, "lead") == 0


def test_cli_import_twice_reports_everything_unchanged(
    cli_db: str, tmp_path: Path
) -> None:
    ws = _file(tmp_path, "ws.csv", WORKSPACES)
    leads = _file(tmp_path, "leads.csv", LEADS)
    assert _cli(cli_db, "workspaces", str(ws)).returncode == 0
    first = _cli(cli_db, "leads", str(leads))
    assert first.returncode == 0, first.stderr
    second = _cli(cli_db, "leads", str(leads), "--format", "json")
    assert second.returncode == 0
    assert json.loads(second.stdout)["unchanged"] == 2
    assert "0 created, 0 updated, 2 unchanged, 0 skipped" in second.stderr
    assert "pit-0123456789abcdef" not in first.stderr + second.stderr


def test_cli_quiet_import_prints_no_summary(cli_db: str, tmp_path: Path) -> None:
    ws = _file(tmp_path, "ws.csv", WORKSPACES)
    result = run_cli(
        "--database-url", cli_db, "--quiet", "import", "workspaces", str(ws)
    )
    assert result.returncode == 0
    assert result.stderr == ""
    assert _count(cli_db, "workspace") == 2


def test_cli_import_is_recorded_as_a_job_run(cli_db: str, tmp_path: Path) -> None:
    ws = _file(tmp_path, "ws.csv", WORKSPACES)
    assert _cli(cli_db, "workspaces", str(ws)).returncode == 0

    engine = make_engine(cli_db)
    with Session(engine) as session:
        runs = session.exec(select(JobRun.job, JobRun.status, JobRun.counts)).all()
    engine.dispose()
    assert [(job, status) for job, status, _ in runs] == [("import", "succeeded")]
    assert json.loads(runs[0][2])["created"] == 2


def test_cli_skipped_row_exits_1_with_its_line(cli_db: str, tmp_path: Path) -> None:
    _cli(cli_db, "workspaces", str(_file(tmp_path, "ws.csv", WORKSPACES)))
    leads = _file(tmp_path, "leads.csv", LEADS + "l3,w-none,,,,,,\n")
    result = _cli(cli_db, "leads", str(leads))
    assert result.returncode == 1
    assert "line 4: skipped: unknown workspace_external_id" in result.stderr
    assert _count(cli_db, "lead") == 2


def test_cli_dry_run_writes_nothing(cli_db: str, tmp_path: Path) -> None:
    result = _cli(
        cli_db, "workspaces", str(_file(tmp_path, "w.csv", WORKSPACES)), "--dry-run"
    )
    assert result.returncode == 0
    assert "2 created" in result.stderr and "dry run" in result.stderr
    assert _count(cli_db, "workspace") == 0
