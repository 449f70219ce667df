"""What the reliability tests share: a small world, its sandbox, its database.

The world is two workspaces of three leads each, every secret and every
lead's e-mail and phone a known canary value, so that the fault, crash,
concurrency, database and secrets tests can all run the real CLI against the
same shape of data and count what happened.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from integration_health.db import make_engine
from integration_health.models import (
    FollowUpInstance,
    FollowUpSequence,
    FollowUpStep,
    Lead,
    Notification,
    Workspace,
    utcnow,
)
from tests.conftest import REPO_ROOT

UNIPILE_KEY = "uk-canary-Zq81vT"
GHL_TOKENS = ("ghl-canary-tokA-5fQ2", "ghl-canary-tokB-9kR7")
SLACK_SECRET_PART = "/services/T000/B000/XXXX"
WORKSPACES = 2
LEADS_PER_WORKSPACE = 3


def lead_email(w: int, i: int) -> str:
    return f"canary.lead{w}{i}@example.org"


def lead_phone(w: int, i: int) -> str:
    return f"+1415555{1 + w}{i:03d}"


def lead_slug(w: int, i: int) -> str:
    return f"canary-slug-{w}-{i}"


def contact_id(w: int, i: int) -> str:
    return f"ghlc_{w}_{i}"


def has_contact(i: int) -> bool:
    """Lead 0 of each workspace has a GHL contact; the others need repair."""
    return i == 0


def ghl_token(slot: int) -> str:
    """The GHL token of a slot: the canaries first, then plain load tokens."""
    return GHL_TOKENS[slot] if slot < len(GHL_TOKENS) else f"ghl-load-tok-{slot}"


def scenario(
    leads: int = LEADS_PER_WORKSPACE, slots: int = WORKSPACES
) -> dict[str, Any]:
    """A sandbox scenario matching :func:`seed`: accounts, profiles, contacts.

    ``slots`` is how many distinct Unipile accounts and GHL locations exist
    (pass the same number to :func:`seed`).
    """
    accounts, profiles, locations = [], {}, {}
    contacts, conversations, messages = [], [], {}
    for w in range(slots):
        accounts.append(
            {
                "id": f"acc_{w}",
                "name": f"Account {w} (LinkedIn)",
                "type": "LINKEDIN",
                "created_at": "2026-01-05T09:00:00.000Z",
                "sources": [{"id": f"acc_{w}_MESSAGING", "status": "OK"}],
            }
        )
        locations[f"loc_{w}"] = {
            "token": ghl_token(w),
            "revoked": False,
            "wrong_location_tokens": [],
            "allow_duplicates": True,
        }
        for i in range(leads):
            profiles[lead_slug(w, i)] = {
                "provider_id": f"ACoA{w}x{i}",
                "public_identifier": lead_slug(w, i),
                "is_relationship": True,
                "network_distance": "FIRST_DEGREE",
            }
            if not has_contact(i):
                continue
            cid = contact_id(w, i)
            contacts.append(
                {
                    "id": cid,
                    "locationId": f"loc_{w}",
                    "email": lead_email(w, i),
                    "phone": lead_phone(w, i),
                    "firstName": "Canary",
                    "lastName": f"L{w}{i}",
                }
            )
            conv = f"conv_{w}_{i}"
            conversations.append(
                {"id": conv, "contactId": cid, "locationId": f"loc_{w}",
                 "type": "TYPE_PHONE", "lastMessageType": "TYPE_SMS"}
            )  # fmt: skip
            messages[conv] = [
                {"id": f"m_{w}_{i}_{k}", "messageType": "TYPE_SMS", "type": 2,
                 "direction": "inbound", "body": f"reply {k}",
                 "dateAdded": f"2026-01-07T10:0{k}:00.000Z", "status": "delivered",
                 "contactId": cid, "conversationId": conv}
                for k in range(2)
            ]  # fmt: skip
    return {
        "unipile": {"api_key": UNIPILE_KEY, "accounts": accounts, "profiles": profiles},
        "ghl": {
            "locations": locations,
            "contacts": contacts,
            "conversations": conversations,
            "messages": messages,
            "message_page_shape": "nested",
            "page_size": 20,
        },
        "slack": {"fail": None},
        "webhook": {"delay": 0.0},
    }


# -- databases --------------------------------------------------------------


def _upgrade(url: str) -> None:
    """The schema exactly as production gets it: the migrations, to head."""
    from integration_health.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def fresh_pg(url: str) -> Engine:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    _upgrade(url_of(engine))
    return engine


_TEMPLATE: dict[str, Path] = {}


def fresh_sqlite(path: Path) -> Engine:
    """A new SQLite file at ``path``, copied from one upgraded per session."""
    if "db" not in _TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="ih-rel-")) / "template.db"
        _upgrade(f"sqlite:///{template}")
        _TEMPLATE["db"] = template
    shutil.copyfile(_TEMPLATE["db"], path)
    return make_engine(f"sqlite:///{path}")


_SEEDED: dict[str, Path] = {}


def seeded_sqlite(path: Path, **options: Any) -> Engine:
    """A migrated, :func:`seed`-ed SQLite file at ``path``: a copy of one
    template per set of ``seed`` options, so a case costs a file copy."""
    key = repr(sorted(options.items()))
    if key not in _SEEDED:
        template = Path(tempfile.mkdtemp(prefix="ih-rel-")) / "seeded.db"
        engine = fresh_sqlite(template)
        seed(engine, **options)
        engine.dispose()
        _SEEDED[key] = template
    shutil.copyfile(_SEEDED[key], path)
    return make_engine(f"sqlite:///{path}")


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def seed(
    engine: Engine,
    *,
    workspaces: int = WORKSPACES,
    leads: int = LEADS_PER_WORKSPACE,
    channels: tuple[str, ...] = ("linkedin_message", "sms"),
    notifications: int = 2,
    slots: int = WORKSPACES,
) -> None:
    """Workspaces, leads, a sequence each, every lead enrolled and due now.

    Workspace ``w`` uses account ``acc_{w % slots}`` and location
    ``loc_{w % slots}``: the tests share two (the secrets canaries), the load
    run gives every workspace its own.
    """
    now = utcnow()
    with engine.begin() as conn:
        for w in range(workspaces):
            ws_id = _insert(
                conn,
                Workspace,
                external_id=f"ws{w}",
                name=f"Workspace {w}",
                ghl_location_id=f"loc_{w % slots}",
                ghl_api_key=ghl_token(w % slots),
                unipile_account_id=f"acc_{w % slots}",
                country="US",
                created_at=now - timedelta(days=30),
                updated_at=now - timedelta(days=30),
            )
            seq_id = _insert(
                conn, FollowUpSequence, workspace_id=ws_id, name="seq", created_at=now
            )
            for pos, channel in enumerate(channels):
                _insert(
                    conn,
                    FollowUpStep,
                    sequence_id=seq_id,
                    position=pos,
                    channel=channel,
                    delay_hours=0.0,
                    template="Hello {first_name}",
                )
            for i in range(leads):
                lead_id = _insert(conn, Lead, **_lead(ws_id, w, i, now, slots))
                _insert(
                    conn,
                    FollowUpInstance,
                    lead_id=lead_id,
                    sequence_id=seq_id,
                    workspace_id=ws_id,
                    current_step=0,
                    current_channel=channels[0],
                    next_run_at=now - timedelta(minutes=5),
                    status="active",
                    step_attempts=0,
                    created_at=now,
                    updated_at=now,
                )
            for k in range(notifications):
                _insert(
                    conn,
                    Notification,
                    dedupe_key=f"seed:{w}:{k}",
                    workspace_id=ws_id,
                    kind=f"seed{k}",
                    text=f"Seeded notice {k} for Workspace {w}",
                    status="pending",
                    attempts=0,
                    next_attempt_at=now - timedelta(minutes=1),
                    created_at=now,
                )


def _lead(ws_id: int, w: int, i: int, now: Any, slots: int) -> dict[str, Any]:
    s, ws_slot = i, w % slots
    return {
        "external_id": f"ws{w}-lead{i}",
        "workspace_id": ws_id,
        "first_name": "Canary",
        "last_name": f"L{w}{i}",
        "email": lead_email(w, s),
        "phone": lead_phone(w, s),
        "ghl_contact_id": contact_id(ws_slot, s) if has_contact(s) else None,
        "linkedin_url": f"https://www.linkedin.com/in/{lead_slug(ws_slot, s)}",
        "linkedin_identifier": lead_slug(ws_slot, s),
        "created_at": now,
        "updated_at": now,
    }


def _insert(conn: sa.Connection, model: type[SQLModel], **values: Any) -> int:
    table = model.__table__  # type: ignore[attr-defined]
    return int(
        conn.execute(
            sa.insert(table).values(**values).returning(table.c.id)
        ).scalar_one()
    )


COUNTED = (
    "workspace",
    "lead",
    "followup_instance",
    "repair_job",
    "message",
    "send_attempt",
    "notification",
)
#: Tables no job may add to or remove from.
FIXED = ("workspace", "lead", "followup_instance")


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one())
            for t in COUNTED
        }


def assert_nothing_lost(before: Mapping[str, int], after: Mapping[str, int]) -> None:
    lost = {t: (before[t], after[t]) for t in COUNTED if after[t] < before[t]}
    assert not lost, f"rows lost (before, after): {lost}"
    changed = {t: (before[t], after[t]) for t in FIXED if after[t] != before[t]}
    assert not changed, f"rows added to fixed tables: {changed}"


def column_values(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.exec_driver_sql(sql).scalars().all())


# -- the CLI ----------------------------------------------------------------


def job_env(sb: Any, db_url: str, **extra: str) -> dict[str, str]:
    """Everything a job needs to run fast against ``sb``."""
    env = {
        "DATABASE_URL": db_url,
        "UNIPILE_DSN": sb.unipile_dsn,
        "UNIPILE_API_KEY": sb.unipile_api_key,
        "GHL_BASE_URL": sb.ghl_base_url,
        "SLACK_WEBHOOK_URL": sb.slack_webhook_url,
        "VERIFY_WEBHOOK_URL": sb.webhook_url,
        "HTTP_CONNECT_TIMEOUT": "1",
        "HTTP_READ_TIMEOUT": "0.3",
        "RETRY_AFTER_CAP_SECONDS": "0.2",
        "LINKEDIN_SEND_SPACING_SECONDS": "0",
        "SLACK_MIN_INTERVAL_SECONDS": "0",
        "GRACE_PERIOD_MINUTES": "0",
        "REPAIR_BACKOFF_BASE_SECONDS": "1",
    }
    env.update(extra)
    return env


@dataclass(frozen=True)
class Job:
    name: str
    args: tuple[str, ...]
    module: str
    #: Sandbox routes (regex on the path) this job calls.
    routes: tuple[str, ...]


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("unipile check", ("unipile", "check"), "unipile", (r"^/api/v1/accounts",)),
        Job("ghl repair", ("ghl", "repair"), "ghl", (r"^/contacts",)),
        Job("ghl sync-sms", ("ghl", "sync-sms"), "ghl", (r"^/conversations",)),
        Job(
            "followups run",
            ("followups", "run"),
            "followups",
            (r"^/api/v1/(users|chats)", r"^/conversations/messages"),
        ),
        Job("notify flush", ("notify", "flush"), "notify", (r"^/slack/",)),
        Job(
            "verify",
            ("verify", "--since", "2h"),
            "verify",
            (r"^/webhook", r"^/api/v1/accounts"),
        ),
    )
}


def child_env(env: Mapping[str, str] | None) -> dict[str, str]:
    base = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(REPO_ROOT),
        "LANG": "C.UTF-8",
    }
    base.update(env or {})
    return base


def run_cli_fast(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "integration_health", *args],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd="/tmp",
    )


class WarmCli:
    """Runs the CLI as :func:`run_cli_fast` does, forked from a warm
    interpreter (``tests/cli_zygote.py``); one run at a time per instance."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cli_zygote"],
            env=child_env(None),
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._dir = Path(tempfile.mkdtemp(prefix="ih-warm-"))

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        out, err = self._dir / "stdout", self._dir / "stderr"
        request = {"args": list(args), "env": child_env(env), "cwd": "/tmp",
                   "stdout": str(out), "stderr": str(err),
                   "timeout": timeout}  # fmt: skip
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        answer = json.loads(self._proc.stdout.readline())
        return subprocess.CompletedProcess(
            list(args),
            int(answer["code"]),
            out.read_text("utf-8", "replace"),
            err.read_text("utf-8", "replace"),
        )

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(timeout=10)
        shutil.rmtree(self._dir, ignore_errors=True)


def start_cli(
    *args: str, env: Mapping[str, str], cwd: Path | None = None
) -> subprocess.Popen[str]:
    """Start the CLI without waiting (to kill it, or to race it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "integration_health", *args],
        env=child_env(env),
        cwd=cwd or "/tmp",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate: Any, timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)


def assert_clean(result: Any, allowed: Iterable[int] = (0, 1, 2)) -> None:
    """The promises every run keeps: a documented exit code, no traceback."""
    stderr = result.stderr or ""
    assert "Traceback" not in stderr, stderr
    assert "error: unexpected " not in stderr, stderr
    assert result.returncode in set(allowed), (result.returncode, stderr[-2000:])


VERIFY_TOML = """
[webhook-burst]
count = 10
rate = 500.0
timeout_seconds = 0.5
deadline_seconds = 5.0
"""


def verify_args(tmp_path: Path) -> list[str]:
    """``verify`` with a small, fast webhook burst."""
    config = tmp_path / "verify.toml"
    config.write_text(VERIFY_TOML, encoding="utf-8")
    return ["--config", str(config), "--format", "json"]
