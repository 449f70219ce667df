"""Bad input, generated: options, environment values and import files. The
exit code is always 0, 1, 2 or 3, stderr never holds a traceback, and a failed
import changes nothing it did not report."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import reliability_support as rs

SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ALLOWED = (0, 1, 2, 3)

#: Text that may not be passed through argv or the environment (NUL).
arg_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)
weird_values = st.one_of(
    arg_text,
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", "-1", "0", "1e309", "nan", "9" * 400, "ünïcødé", "🙂"]),
)


@pytest.fixture(scope="module")
def empty_db() -> Iterator[str]:
    tmp = Path(tempfile.mkdtemp(prefix="ih-input-"))
    engine = rs.fresh_sqlite(tmp / "input.db")
    engine.dispose()
    yield str(tmp / "input.db")
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def cli() -> Iterator[rs.WarmCli]:
    warm = rs.WarmCli()
    yield warm
    warm.close()


def _copy(db: str) -> str:
    target = Path(tempfile.mkdtemp(prefix="ih-input-")) / "copy.db"
    shutil.copyfile(db, target)
    return f"sqlite:///{target}"


OPTION_COMMANDS = [
    ("status", "--workspace"),
    ("status", "--format"),
    ("ghl", "jobs", "--state"),
    ("ghl", "jobs", "--limit"),
    ("followups", "run", "--limit"),
    ("followups", "run", "--max-seconds"),
    ("verify", "--since"),
    ("notify", "flush", "--limit"),
]


@SETTINGS
@given(command=st.sampled_from(OPTION_COMMANDS), value=weird_values)
def test_bad_option_values_never_crash(
    empty_db: str, cli: rs.WarmCli, command: tuple[str, ...], value: str
) -> None:
    env = {"DATABASE_URL": _copy(empty_db), "UNIPILE_DSN": "http://127.0.0.1:9",
           "UNIPILE_API_KEY": "k", "GHL_BASE_URL": "http://127.0.0.1:9"}  # fmt: skip
    result = cli.run(*command, value, env=env)
    rs.assert_clean(result, allowed=ALLOWED)


ENV_NAMES = [
    "DATABASE_URL",
    "HTTP_READ_TIMEOUT",
    "RETRY_AFTER_CAP_SECONDS",
    "LEASE_SECONDS",
    "FOLLOWUP_BATCH_SIZE",
    "UNIPILE_HEALTH_GATE",
    "AUTO_DISABLE",
    "SLACK_WEBHOOK_URL",
    "UNIPILE_DSN",
    "GHL_BASE_URL",
]


@SETTINGS
@given(name=st.sampled_from(ENV_NAMES), value=weird_values)
def test_bad_environment_values_exit_2_or_run(
    empty_db: str, cli: rs.WarmCli, name: str, value: str
) -> None:
    env = {"DATABASE_URL": _copy(empty_db), name: value}
    result = cli.run("notify", "flush", env=env)
    rs.assert_clean(result, allowed=ALLOWED)
    if result.returncode == 2:
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert 1 <= len(lines) <= 2 and lines[0].startswith("error:"), result.stderr


HEADER = (
    "external_id,workspace_external_id,first_name,last_name,email,phone,"
    "linkedin_url,ghl_contact_id"
)
csv_cell = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=30,
)
files = st.one_of(
    st.binary(max_size=300),
    st.just(b""),
    st.lists(st.lists(csv_cell, max_size=9), max_size=5).map(
        lambda rows: (HEADER + "\n" + "\n".join(",".join(r) for r in rows)).encode(
            "utf-8"
        )
    ),
    st.sampled_from(
        [
            "external_id,name\nw1,Caf\u00e9\n".encode("latin-1"),
            "\ufeffexternal_id,name\nw1,Caf\u00e9\n".encode("utf-16"),
            b"external_id\n\n\n",
            b'{"external_id": 1}\n{not json\n',
            b"\xff\xfe\x00\x00garbage",
            ("external_id,name\n" + "x" * 20_000 + ",big\n").encode(),
        ]
    ),
)


def _rows(url: str) -> dict[str, int]:
    from integration_health.db import make_engine

    engine = make_engine(url)
    try:
        return rs.counts(engine)
    finally:
        engine.dispose()


@SETTINGS
@given(
    kind=st.sampled_from(["workspaces", "leads", "sequences", "enrollments"]),
    suffix=st.sampled_from([".csv", ".jsonl", ".json"]),
    content=files,
)
def test_bad_import_files_change_nothing_unreported(
    empty_db: str, cli: rs.WarmCli, kind: str, suffix: str, content: bytes
) -> None:
    url = _copy(empty_db)
    path = Path(tempfile.mkdtemp(prefix="ih-input-")) / f"{kind}{suffix}"
    path.write_bytes(content)
    before = _rows(url)
    result = cli.run("import", kind, str(path), env={"DATABASE_URL": url})
    rs.assert_clean(result, allowed=ALLOWED)
    if result.returncode != 0:
        assert _rows(url) == before, "a failed import changed the database"
        assert result.stderr.strip(), "a failed import said nothing"
