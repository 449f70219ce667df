"""Verify results as JUnit XML for CI and as a Markdown review of the deploy."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from integration_health.render import json_default

if TYPE_CHECKING:
    from integration_health.services.verify import CheckResult


def results_json(
    results: Sequence[CheckResult], *, since: datetime, exit_code: int
) -> str:
    payload = {
        "since": since.isoformat(),
        "exit_code": exit_code,
        "checks": [
            {
                "name": r.name,
                "outcome": r.outcome.value,
                "value": r.value,
                "threshold": r.threshold,
                "detail": r.detail,
                "seconds": round(r.seconds, 3),
                "data": dict(r.data),
            }
            for r in results
        ],
    }
    return json.dumps(payload, indent=2, default=json_default)


def junit_xml(results: Sequence[CheckResult], *, suite: str = "verify") -> str:
    """One testcase per check: fail -> <failure>, inconclusive -> <skipped>."""
    failures = sum(r.outcome.value == "fail" for r in results)
    skipped = sum(r.outcome.value == "inconclusive" for r in results)
    root = ET.Element(
        "testsuite",
        name=f"integration-health {suite}",
        tests=str(len(results)),
        failures=str(failures),
        skipped=str(skipped),
        errors="0",
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(
            root,
            "testcase",
            classname=f"integration_health.{suite}",
            name=r.name,
            time=f"{r.seconds:.3f}",
        )
        text = f"value: {r.value}; threshold: {r.threshold}; {r.detail}"
        if r.outcome.value == "fail":
            ET.SubElement(case, "failure", message=r.detail[:500]).text = text
        elif r.outcome.value == "inconclusive":
            ET.SubElement(case, "skipped", message=r.detail[:500])
        ET.SubElement(case, "system-out").text = text
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_report(
    results: Sequence[CheckResult],
    *,
    since: datetime,
    generated_at: datetime,
    exit_code: int,
    deploy_id: str | None = None,
) -> str:
    """A review of one deploy: each check, its value, threshold and detail."""
    verdict = {0: "PASS", 1: "FAIL", 3: "INCONCLUSIVE"}.get(exit_code, str(exit_code))
    lines = [
        f"# Deploy verification: {verdict}",
        "",
        f"- Deploy: {deploy_id or '(no id given)'}",
        f"- Deploy time (since): {since.isoformat()}",
        f"- Verified at: {generated_at.isoformat()}",
        f"- Exit code: {exit_code}",
        "",
        "| check | result | value | threshold | detail |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.outcome.value} | {_cell(r.value)} | "
            f"{_cell(r.threshold)} | {_cell(r.detail)} |"
        )
    lines += ["", _advice(exit_code), ""]
    return "\n".join(lines)


def _advice(exit_code: int) -> str:
    if exit_code == 0:
        return "Every check passed: keep the flags on."
    if exit_code == 1:
        return (
            "A check failed: see docs/runbook.md, Rollback, for the flag to turn "
            "off for this symptom."
        )
    return "Some checks had no data: supply it (URL, --logs, cron) and run again."
