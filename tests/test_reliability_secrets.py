"""Secrets canary: known values for every secret and for leads' e-mails and
phones; every command run, failures and ``-v`` included; none of them may
appear anywhere but the columns meant to hold them."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from integration_health.db import make_engine
from integration_health.sandbox import Sandbox
from tests import reliability_support as rs

#: Columns meant to hold a secret or a lead's personal data.
HOLDERS = {("workspace", "ghl_api_key"), ("lead", "email"), ("lead", "phone")}


def canaries(sb: Sandbox) -> dict[str, str]:
    values = {
        "UNIPILE_API_KEY": rs.UNIPILE_KEY,
        "SLACK_WEBHOOK_URL": rs.SLACK_SECRET_PART,
    }
    for w, token in enumerate(rs.GHL_TOKENS):
        values[f"ghl token {w}"] = token
    for w in range(rs.WORKSPACES):
        for i in range(rs.LEADS_PER_WORKSPACE):
            values[f"email {w}{i}"] = rs.lead_email(w, i)
            values[f"phone {w}{i}"] = rs.lead_phone(w, i)
            values[f"phone digits {w}{i}"] = rs.lead_phone(w, i)[2:]
    return values


def _write_imports(tmp: Path) -> tuple[Path, Path, Path, Path]:
    ws = tmp / "workspaces.csv"
    with ws.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["external_id", "name", "ghl_location_id", "ghl_api_key",
                      "unipile_account_id", "country"])  # fmt: skip
        for w in range(rs.WORKSPACES):
            out.writerow([f"ws{w}", f"Workspace {w}", f"loc_{w}", rs.GHL_TOKENS[w],
                          f"acc_{w}", "US"])  # fmt: skip
    leads = tmp / "leads.csv"
    with leads.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["external_id", "workspace_external_id", "first_name",
                      "last_name", "email", "phone", "linkedin_url",
                      "ghl_contact_id"])  # fmt: skip
        for w in range(rs.WORKSPACES):
            for i in range(rs.LEADS_PER_WORKSPACE):
                cid = rs.contact_id(w, i) if rs.has_contact(i) else ""
                out.writerow([f"ws{w}-lead{i}", f"ws{w}", "Canary", f"L{w}{i}",
                              rs.lead_email(w, i), rs.lead_phone(w, i),
                              f"https://www.linkedin.com/in/{rs.lead_slug(w, i)}",
                              cid])  # fmt: skip
    seqs = tmp / "sequences.jsonl"
    seqs.write_text(
        "".join(
            json.dumps({"name": "seq", "workspace_external_id": f"ws{w}",
                        "steps": [{"channel": "linkedin_message", "delay_hours": 0,
                                   "template": "Hi {first_name}"},
                                  {"channel": "sms", "delay_hours": 0,
                                   "template": "Hi again"}]}) + "\n"
            for w in range(rs.WORKSPACES)
        ),
        encoding="utf-8",
    )  # fmt: skip
    enr = tmp / "enrollments.csv"
    rows = ["lead_external_id,sequence_name,start_at"] + [
        f"ws{w}-lead{i},seq,"
        for w in range(rs.WORKSPACES)
        for i in range(rs.LEADS_PER_WORKSPACE)
    ]
    enr.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return ws, leads, seqs, enr


def _text_columns(engine: Engine) -> list[tuple[str, str]]:
    inspector = sa.inspect(engine)
    found = []
    for table in inspector.get_table_names():
        for column in inspector.get_columns(table):
            if isinstance(column["type"], sa.String | sa.Text):
                found.append((table, column["name"]))
    return found


def _database_text(engine: Engine) -> dict[str, str]:
    texts = {}
    with engine.connect() as conn:
        for table, column in _text_columns(engine):
            if (table, column) in HOLDERS:
                continue
            values = conn.execute(sa.text(f'SELECT "{column}" FROM "{table}"'))
            texts[f"{table}.{column}"] = "\n".join(str(v) for (v,) in values if v)
    return texts


def _leaks(haystacks: dict[str, str], needles: dict[str, str]) -> list[str]:
    return [
        f"{name} in {where}"
        for where, text in haystacks.items()
        for name, value in needles.items()
        if value and value in text
    ]


FAULTED = [
    ("/api/v1/", {"status": 401, "body": {"type": "errors/disconnected_account"}}),
    ("/contacts", {"status": 500, "body": {"message": "boom"}}),
    ("/conversations", {"status": 401, "body": {"message": "Invalid JWT"}}),
    ("/slack/", {"status": 500, "body": "oops"}),
]


@pytest.fixture
def cli() -> Iterator[rs.WarmCli]:
    warm = rs.WarmCli()
    yield warm
    warm.close()


@pytest.mark.e2e
def test_no_secret_or_personal_data_escapes(tmp_path: Path, cli: rs.WarmCli) -> None:
    db = tmp_path / "canary.db"
    url = f"sqlite:///{db}"
    logs: dict[str, str] = {}
    with Sandbox(rs.scenario()) as sb:
        env = rs.job_env(sb, url, DEGRADED_AFTER_FAILURES="1")

        def run(name: str, *args: str, **extra: str) -> Any:
            for flags in ((), ("-v",), ("--log-format", "json")):
                result = cli.run(*flags, *args, env={**env, **extra})
                assert "Traceback" not in result.stderr or flags == ("-v",), (
                    result.stderr
                )
                key = f"{name} {' '.join(flags)}"
                logs[f"stdout of {key}"] = result.stdout
                logs[f"stderr of {key}"] = result.stderr
            return result

        assert cli.run("db", "upgrade", env=env).returncode == 0
        ws, leads, seqs, enr = _write_imports(tmp_path)
        for kind, path in (("workspaces", ws), ("leads", leads),
                           ("sequences", seqs), ("enrollments", enr)):  # fmt: skip
            result = cli.run("import", kind, str(path), env=env)
            assert result.returncode == 0, result.stderr
            logs[f"import {kind}"] = result.stdout + result.stderr
        jobs = list(rs.JOBS.values())
        for job in jobs:
            run(job.name, *job.args)
        for prefix, fault in FAULTED:  # failures: every job once more
            sb.add_fault("*", "^" + prefix, **fault)
        for job in jobs:
            run(f"{job.name} faulted", *job.args)
        sb.clear_faults()
        run("notify flush after faults", "notify", "flush")
        prom = tmp_path / "metrics.prom"
        run("status", "status", "--format", "json")
        cli.run("status", "--format", "prometheus", "--output", str(prom), env=env)
        junit = tmp_path / "verify.xml"
        cli.run("verify", *rs.verify_args(tmp_path), "--junit", str(junit), env=env)
        run("bad key", "unipile", "check", UNIPILE_API_KEY=rs.UNIPILE_KEY + "x")
        slack = {f"slack body {k}": r.body.decode("utf-8", "replace")
                 for k, r in enumerate(sb.requests("/slack/"))}  # fmt: skip
    engine = make_engine(url)
    files = {p.name: p.read_text("utf-8") for p in (prom, junit) if p.exists()}
    haystacks = {**logs, **slack, **files, **_database_text(engine)}
    engine.dispose()
    needles = canaries(sb)
    leaks = _leaks(haystacks, needles)
    assert leaks == [], leaks
    assert slack, "no Slack notice was sent: the canary saw nothing"
