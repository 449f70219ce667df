"""Count error patterns in log files since a deploy, in time windows.

A source is a file of JSON Lines (``time``/``timestamp``/``ts`` and
``message``/``msg``) or plain text with a leading ISO-8601 timestamp; ``-``
is standard input. Every source is read once, line by line, for all the
patterns of a run, since standard input cannot be read twice. A line whose
time cannot be read is counted as in range (the checks say how many were).
"""

from __future__ import annotations

import json
import re
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from integration_health.errors import ConfigError

_TIME_KEYS = ("time", "timestamp", "ts")
_MESSAGE_KEYS = ("message", "msg")
_LEADING_TIME = re.compile(
    r"^\s*\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?)"
)


@dataclass(frozen=True)
class LogLine:
    time: datetime | None
    text: str


@dataclass
class PatternCount:
    """Matches of one pattern group: dated match times and undated matches."""

    times: list[datetime] = field(default_factory=list)
    undated: int = 0

    @property
    def total(self) -> int:
        return len(self.times) + self.undated


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO-8601 text or epoch seconds; naive is UTC."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace(",", "."))
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        # Year 1 or 9999 with an offset falls outside what a datetime holds.
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def parse_line(raw: str) -> LogLine:
    stripped = raw.strip()
    if stripped.startswith("{"):
        try:
            record = json.loads(stripped)
        except ValueError:
            record = None
        if isinstance(record, dict):
            when = next(
                (parse_time(record[k]) for k in _TIME_KEYS if k in record), None
            )
            return LogLine(when, stripped)
    match = _LEADING_TIME.match(raw)
    return LogLine(parse_time(match.group(1)) if match else None, stripped)


def _open(source: str, stdin: TextIO | None) -> Iterator[str]:
    if source == "-":
        yield from stdin if stdin is not None else sys.stdin
        return
    try:
        with Path(source).open(encoding="utf-8", errors="replace") as handle:
            yield from handle
    except OSError as exc:
        raise ConfigError(f"--logs: cannot read {source}: {exc.strerror}") from None


def check_sources(sources: Sequence[str]) -> None:
    """Fail early (exit 2) on a log file that does not exist."""
    for source in sources:
        if source != "-" and not Path(source).is_file():
            raise ConfigError(f"--logs: no such file: {source}")


def compile_patterns(patterns: Iterable[str]) -> re.Pattern[str]:
    """Literal patterns, case-insensitive, not inside a longer word or number."""
    alternatives = "|".join(re.escape(p) for p in patterns)
    return re.compile(rf"(?<![0-9A-Za-z_])(?:{alternatives})(?![0-9A-Za-z_])", re.I)


def scan(
    sources: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    *,
    since: datetime,
    stdin: TextIO | None = None,
) -> dict[str, PatternCount]:
    """One pass over every source; per group, the matches at or after ``since``."""
    compiled = {name: compile_patterns(pats) for name, pats in groups.items() if pats}
    counts = {name: PatternCount() for name in groups}
    for source in sources:
        for raw in _open(source, stdin):
            if not raw.strip():
                continue
            line = parse_line(raw)
            if line.time is not None and line.time < since:
                continue
            for name, pattern in compiled.items():
                if pattern.search(line.text):
                    if line.time is None:
                        counts[name].undated += 1
                    else:
                        counts[name].times.append(line.time)
    return counts


def max_in_window(times: Iterable[datetime], window: timedelta) -> int:
    """The largest number of times that fall within any span of ``window``."""
    best = 0
    recent: deque[datetime] = deque()
    for when in sorted(times):
        recent.append(when)
        while when - recent[0] >= window:
            recent.popleft()
        best = max(best, len(recent))
    return best
