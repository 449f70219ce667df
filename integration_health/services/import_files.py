"""Read an import file into numbered rows: CSV, JSON Lines or a JSON array.

Everything that makes a whole file unusable (missing, empty, undecodable,
neither CSV nor JSON, a required column absent) is raised here as a
:class:`ConfigError` before a single row is written. A single bad row is not
a file problem: it is returned with the reason, to be reported by line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration_health.errors import ConfigError

_JSONL = {".jsonl", ".ndjson"}


@dataclass(frozen=True)
class Row:
    """One record of the file: its first line, its values, or why it is bad."""

    line: int
    values: dict[str, Any]
    error: str | None = None


def read_rows(path: Path, required: Iterable[str]) -> list[Row]:
    """All records of ``path``, checked for the ``required`` columns."""
    text = _read_text(path)
    fmt = _detect_format(path, text)
    if fmt == "csv":
        rows, columns = _csv_rows(path, text)
    elif fmt == "json":
        rows = _json_array_rows(path, text)
        columns = _json_columns(rows)
    else:
        rows = _jsonl_rows(path, text)
        columns = _json_columns(rows)
    missing = [name for name in required if name not in columns]
    if missing:
        raise ConfigError(
            f"{path}: missing required column(s): {', '.join(missing)}",
            hint=f"the file needs the columns: {', '.join(required)}",
        )
    return rows


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if b"\x00" in data:
        raise ConfigError(f"{path}: not CSV or JSON (binary data)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 (undecodable byte at offset {exc.start})",
            hint="save the file as UTF-8",
        ) from None
    if not text.strip():
        raise ConfigError(f"{path}: the file is empty")
    return text


def _detect_format(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in _JSONL:
        return "jsonl"
    first = text.lstrip()[:1]
    if suffix == ".json":
        return "json" if first == "[" else "jsonl"
    if first == "[":
        return "json"
    if first == "{":
        return "jsonl"
    header = text.lstrip().splitlines()[0]
    if "," in header or "\t" in header or ";" in header:
        return "csv"
    raise ConfigError(
        f"{path}: not CSV or JSON",
        hint="use a .csv file with a header row, or .jsonl / .json",
    )


def _csv_rows(path: Path, text: str) -> tuple[list[Row], set[str]]:
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    try:
        columns = {(name or "").strip() for name in (reader.fieldnames or [])}
        rows: list[Row] = []
        start = reader.line_num + 1
        for record in reader:
            values = {(k or "").strip(): v for k, v in record.items() if k}
            error = "too many fields" if None in record else None
            rows.append(Row(start, values, error))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ConfigError(f"{path}: not valid CSV: {exc}") from None
    if not columns - {""}:
        raise ConfigError(f"{path}: no header row")
    return rows, columns


def _jsonl_rows(path: Path, text: str) -> list[Row]:
    rows: list[Row] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            if not rows:
                raise ConfigError(
                    f"{path}: not JSON Lines (line {number} is not a JSON object)"
                )
            rows.append(Row(number, {}, "not a JSON object"))
            continue
        rows.append(Row(number, value))
    return rows


def _json_array_rows(path: Path, text: str) -> list[Row]:
    """Elements of a top-level array, each numbered by the line it starts on."""
    decoder = json.JSONDecoder()
    try:
        values = decoder.decode(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(values, list):
        raise ConfigError(f"{path}: JSON must be an array of objects")
    rows: list[Row] = []
    pos = text.index("[") + 1
    for value in values:
        while text[pos] in " \t\r\n,":
            pos += 1
        line = text.count("\n", 0, pos) + 1
        _, pos = decoder.raw_decode(text, pos)
        if isinstance(value, dict):
            rows.append(Row(line, value))
        else:
            rows.append(Row(line, {}, "not a JSON object"))
    return rows


def _json_columns(rows: list[Row]) -> set[str]:
    """Columns of a JSON file: the keys that any well-formed record holds."""
    columns: set[str] = set()
    for row in rows:
        columns.update(row.values)
    return columns


@dataclass(frozen=True)
class RowIssue:
    """A row skipped or imported with a warning; never holds the row's values."""

    line: int
    reason: str


@dataclass
class ImportReport:
    """What one import did (or, with ``dry_run``, would do)."""

    kind: str
    path: str
    dry_run: bool = False
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Follow-up instances resumed because a lead's LinkedIn profile changed.
    resumed: int = 0
    skipped: list[RowIssue] = field(default_factory=list)
    warnings: list[RowIssue] = field(default_factory=list)

    def skip(self, line: int, reason: str) -> None:
        self.skipped.append(RowIssue(line, reason))

    def warn(self, line: int, reason: str) -> None:
        self.warnings.append(RowIssue(line, reason))

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.path,
            "dry_run": self.dry_run,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": len(self.skipped),
            "resumed_instances": self.resumed,
            "skips": [vars(issue) for issue in self.skipped],
            "warnings": [vars(issue) for issue in self.warnings],
        }


def text_value(values: dict[str, Any], key: str) -> str | None:
    """A cell as stripped text; empty and JSON null become None."""
    value = values.get(key)
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None
