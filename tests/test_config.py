"""Configuration from the process: bad values, precedence, .env files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integration_health.config import VARIABLES, env_example, settings_field_names
from tests.conftest import REPO_ROOT, run_cli


def _sources(result_stdout: str) -> dict[str, tuple[str, str]]:
    return {r["variable"]: (r["value"], r["source"]) for r in json.loads(result_stdout)}


def test_env_example_is_generated_from_the_variables() -> None:
    assert (REPO_ROOT / ".env.example").read_text() == env_example()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://root@127.0.0.1/db"),
        ("AUTO_DISABLE", "maybe"),
        ("DEGRADED_AFTER_FAILURES", "-1"),
        ("RETRY_AFTER_CAP_SECONDS", "-5"),
        ("HTTP_READ_TIMEOUT", "soon"),
    ],
)
def test_bad_value_exits_2_with_one_line_naming_it(
    name: str, value: str, tmp_path: Path
) -> None:
    result = run_cli("flags", env={name: value}, cwd=tmp_path)

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {name}: invalid value; accepted: ")
    assert result.stdout == ""


def test_missing_env_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("--env-file", str(tmp_path / "nope.env"), "flags", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr == f"error: --env-file: no such file: {tmp_path}/nope.env\n"


def test_env_file_option_is_read(tmp_path: Path) -> None:
    (tmp_path / "prod.env").write_text("AUTO_DISABLE=0\n")
    (tmp_path / ".env").write_text("AUTO_DISABLE=1\n")

    result = run_cli(
        "--env-file", "prod.env", "flags", "--format", "json", cwd=tmp_path
    )

    assert _sources(result.stdout)["AUTO_DISABLE"] == ("False", ".env")


def test_dotenv_in_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GHL_API_VERSION=2099-01-01\n")

    result = run_cli("flags", "--all", "--format", "json", cwd=tmp_path)

    assert _sources(result.stdout)["GHL_API_VERSION"] == ("2099-01-01", ".env")


def test_environment_beats_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("AUTO_DISABLE=0\n")

    result = run_cli(
        "flags", "--format", "json", env={"AUTO_DISABLE": "1"}, cwd=tmp_path
    )

    assert _sources(result.stdout)["AUTO_DISABLE"] == ("True", "environment")


def test_database_url_option_beats_environment_and_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///from-file.db\n")
    env = {"DATABASE_URL": "sqlite:///from-env.db"}

    result = run_cli(
        "--database-url",
        "sqlite:///from-option.db",
        "flags",
        "--all",
        "--format",
        "json",
        env=env,
        cwd=tmp_path,
    )

    assert _sources(result.stdout)["DATABASE_URL"] == (
        "sqlite:///from-option.db",
        "option",
    )


def _readme_config_table() -> str:
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for var in VARIABLES:
        default = f"`{var.default}`" if var.default else "(empty)"
        secret = " (secret)" if var.secret else ""
        rows.append(f"| `{var.env}` | {default} | {var.help}{secret} |")
    return "\n".join(rows) + "\n"


def test_readme_configuration_table_lists_every_variable() -> None:
    readme = (REPO_ROOT / "README.md").read_text()

    assert _readme_config_table() in readme, (
        "README's configuration table is out of date; replace it with:\n"
        + _readme_config_table()
    )


def test_every_setting_has_exactly_one_variable() -> None:
    assert settings_field_names() == {var.attr for var in VARIABLES}


IN_MEMORY_ERROR = (
    "error: DATABASE_URL: invalid value; accepted: sqlite:///PATH or "
    "postgresql://USER@HOST:PORT/DB; an in-memory SQLite database is lost when "
    "the command exits, so give a file\n"
)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_url_exits_2_saying_the_data_would_be_lost(
    url: str, tmp_path: Path
) -> None:
    result = run_cli("--database-url", url, "status", cwd=tmp_path)

    assert (result.returncode, result.stderr) == (2, IN_MEMORY_ERROR)


def test_backoff_cap_below_its_base_exits_2_naming_both(tmp_path: Path) -> None:
    env = {"REPAIR_BACKOFF_BASE_SECONDS": "120", "REPAIR_BACKOFF_CAP_SECONDS": "60"}

    result = run_cli("flags", env=env, cwd=tmp_path)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: REPAIR_BACKOFF_CAP_SECONDS (60) is below "
        "REPAIR_BACKOFF_BASE_SECONDS (120); accepted: a cap at least the base\n"
    )


def test_unipile_dsn_that_names_no_host_and_port_exits_2(tmp_path: Path) -> None:
    result = run_cli("flags", env={"UNIPILE_DSN": "notaurl"}, cwd=tmp_path)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: UNIPILE_DSN: invalid value; accepted: https://HOST[:PORT], "
        "or HOST:PORT as Unipile shows it\n"
    )


def test_only_an_env_file_key_that_looks_like_ours_is_warned_about(
    tmp_path: Path,
) -> None:
    (tmp_path / "prod.env").write_text(
        "AUTO_DISBALE=0\nJOB_TIMEOUT_SECONDS=600\nHTTP_PROXY=\n"
    )

    result = run_cli("--env-file", "prod.env", "flags", cwd=tmp_path)

    assert result.returncode == 0
    assert result.stderr == (
        "WARNING AUTO_DISBALE in prod.env is not a setting of integration-health "
        "(did you mean AUTO_DISABLE?); it is ignored\n"
    )
