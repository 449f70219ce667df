"""Log sources and the token-refresh-spam check: JSON Lines, plain text, windows."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from integration_health.errors import ConfigError
from integration_health.services import logscan
from integration_health.services.verify import (
    Outcome,
    VerifyContext,
    check_token_refresh_spam,
)
from integration_health.services.verify_config import (
    SpamConfig,
    VerifyConfig,
    parse_since,
)

DEPLOY = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
NOW = DEPLOY + timedelta(hours=1)


def _jsonl(path: Path, entries: list[tuple[int, str, str]]) -> Path:
    """(minutes after deploy, time key, message) per line."""
    lines = [
        json.dumps({key: (DEPLOY + timedelta(minutes=m)).isoformat(), "msg": text})
        for m, key, text in entries
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _context(sources: list[str], **spam: object) -> VerifyContext:
    config = VerifyConfig(spam=SpamConfig(**spam))  # type: ignore[arg-type]
    return VerifyContext(config=config, since=DEPLOY, now=NOW, log_sources=sources)


def test_jsonl_matches_are_counted_after_the_deploy_only(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "app.jsonl",
        [
            (-5, "time", "ghl refresh_token_not_found"),
            (1, "timestamp", "ghl refresh_token_not_found"),
            (2, "ts", "refresh_token_not_found again"),
            (3, "time", "all good"),
        ],
    )
    counts = logscan.scan(
        [str(path)], {"spam": ["refresh_token_not_found"]}, since=DEPLOY
    )
    assert [t.minute for t in counts["spam"].times] == [1, 2]
    assert counts["spam"].undated == 0


def test_plain_text_with_leading_timestamps_and_undated_lines(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text(
        "2026-07-01T11:59:00Z ERROR canceling statement due to statement timeout\n"
        "2026-07-01 12:10:00,123 ERROR SQLSTATE 57014\n"
        "    continuation: code 57014\n"
        "2026-07-01T12:20:00+00:00 INFO took 570140 us\n"
    )
    counts = logscan.scan(
        [str(path)],
        {"inbox": ["57014", "canceling statement due to statement timeout"]},
        since=DEPLOY,
    )
    assert len(counts["inbox"].times) == 1
    assert counts["inbox"].undated == 1


def test_stdin_is_a_source() -> None:
    stdin = io.StringIO('{"time": "2026-07-01T12:05:00Z", "message": "x 57014"}\n')
    counts = logscan.scan(["-"], {"inbox": ["57014"]}, since=DEPLOY, stdin=stdin)
    assert counts["inbox"].total == 1


def test_missing_log_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        logscan.check_sources([str(tmp_path / "nope.log")])


def test_max_in_window_finds_the_densest_span() -> None:
    times = [DEPLOY + timedelta(minutes=m) for m in (0, 1, 2, 15, 16, 17, 18, 30)]
    assert logscan.max_in_window(times, timedelta(minutes=10)) == 4
    assert logscan.max_in_window([], timedelta(minutes=10)) == 0


def test_no_log_source_is_inconclusive_not_pass() -> None:
    result = check_token_refresh_spam(_context([]))
    assert result.outcome is Outcome.INCONCLUSIVE
    assert "no log source" in result.detail


def test_spam_over_the_limit_in_one_window_fails(tmp_path: Path) -> None:
    burst = [(20 + i // 4, "time", "refresh_token_not_found") for i in range(11)]
    path = _jsonl(tmp_path / "app.jsonl", burst)
    result = check_token_refresh_spam(_context([str(path)]))
    assert result.outcome is Outcome.FAIL
    assert result.data["worst_window"] == 11


def test_spam_spread_over_windows_passes(tmp_path: Path) -> None:
    spread = [(m * 6, "time", "refresh_token_not_found") for m in range(10)]
    path = _jsonl(tmp_path / "app.jsonl", spread)
    result = check_token_refresh_spam(_context([str(path)], max_count=2))
    assert result.outcome is Outcome.PASS
    assert result.data["total"] == 10


def test_clean_log_passes(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "app.jsonl", [(1, "time", "all good")])
    result = check_token_refresh_spam(_context([str(path)]))
    assert result.outcome is Outcome.PASS
    assert result.value == "0 in the worst window"


def test_undated_matches_are_counted_and_said(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("refresh_token_not_found\n" * 3)
    result = check_token_refresh_spam(_context([str(path)], max_count=2))
    assert result.outcome is Outcome.FAIL
    assert "3 lines without a timestamp counted as in range" in result.detail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, NOW - timedelta(hours=1)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        ("2026-07-01T12:30:00Z", DEPLOY + timedelta(minutes=30)),
        ("2026-07-01T12:30:00", DEPLOY + timedelta(minutes=30)),
    ],
)
def test_since_accepts_iso_and_relative(text: str | None, expected: datetime) -> None:
    assert parse_since(text, now=NOW) == expected


@pytest.mark.parametrize(
    "text", ["yesterday", "5x", "2027-01-01T00:00:00Z", "2016-06-30T00:00:00Z"]
)
def test_since_rejects_bad_values(text: str) -> None:
    with pytest.raises(ConfigError, match="--since"):
        parse_since(text, now=NOW)


def test_since_with_an_offset_beyond_the_calendar_is_unreadable() -> None:
    with pytest.raises(ConfigError, match="--since: cannot read"):
        parse_since("0001-01-01T00:00:00+05:00", now=NOW)


def test_a_log_time_beyond_the_calendar_counts_as_undated(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    line = {"time": "0001-01-01T00:00:00+05:00", "msg": "refresh_token_not_found"}
    path.write_text(json.dumps(line) + "\n")

    counts = logscan.scan(
        [str(path)], {"spam": ["refresh_token_not_found"]}, since=DEPLOY
    )

    assert (counts["spam"].times, counts["spam"].undated) == ([], 1)
