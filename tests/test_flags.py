"""``flags``: effective values and sources, never a secret."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def _json(*args: str, env: dict[str, str], cwd: Path) -> list[dict[str, str]]:
    result = run_cli("flags", "--format", "json", *args, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_flags_show_value_and_source(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("UNIPILE_HEALTH_GATE=0\n")

    rows = _json(env={"AUTO_DISABLE": "off"}, cwd=tmp_path)

    assert rows == [
        {"variable": "UNIPILE_HEALTH_GATE", "value": "False", "source": ".env"},
        {"variable": "AUTO_DISABLE", "value": "False", "source": "environment"},
    ]


def test_flags_default_to_on(tmp_path: Path) -> None:
    rows = _json(env={}, cwd=tmp_path)

    assert {(r["value"], r["source"]) for r in rows} == {("True", "default")}


def test_flags_table_lists_both_flags(tmp_path: Path) -> None:
    result = run_cli("flags", env={"AUTO_DISABLE": "0"}, cwd=tmp_path)

    assert result.returncode == 0
    lines = [line for line in result.stdout.splitlines() if "AUTO_DISABLE" in line]
    assert len(lines) == 1 and "False" in lines[0] and "environment" in lines[0]
    assert "UNIPILE_HEALTH_GATE" in result.stdout


def test_all_lists_every_setting_with_option_source(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = run_cli(
        "--database-url", url, "flags", "--all", "--format", "json", cwd=tmp_path
    )

    rows = {r["variable"]: r for r in json.loads(result.stdout)}
    assert rows["DATABASE_URL"] == {
        "variable": "DATABASE_URL",
        "value": url,
        "source": "option",
    }
    assert rows["UNIPILE_API_KEY"]["value"] == "(not set)"
    assert len(rows) > 20


def test_all_never_prints_a_secret(tmp_path: Path) -> None:
    secrets = {
        "UNIPILE_API_KEY": "unipile-key-4f9a2c",
        "SLACK_WEBHOOK_URL": "https://hooks.example.test/T000/B000/xoxb99secret",
        "DATABASE_URL": "postgresql://ops:db-pass-77c1@127.0.0.1:5432/ih",
    }
    for output in ("table", "json"):
        result = run_cli(
            "flags", "--all", "--format", output, env=secrets, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        for needle in ("unipile-key-4f9a2c", "xoxb99secret", "db-pass-77c1"):
            assert needle not in result.stdout + result.stderr
        assert "(set)" in result.stdout
