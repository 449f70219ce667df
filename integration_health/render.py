"""Output for people and machines: rich tables, JSON, Prometheus text, files.

Commands build plain data and hand it here, so that every command renders
the same way: tables on stdout, datetimes as ISO-8601, metric files written
atomically (node_exporter's textfile collector must never read half a file).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

PIPE_WIDTH = 200
Sample = tuple[Mapping[str, str], float]


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 job``, ``2 jobs``: a count with its noun in the right number."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def render_table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Print a table on stdout; None cells show as an empty cell."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    # Piped or in cron, rich would assume 80 columns and fold every cell.
    width = None if sys.stdout.isatty() else PIPE_WIDTH
    Console(soft_wrap=False, width=width).print(table)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)  # a Path, a Decimal: their text, never a traceback


def json_default(value: Any) -> Any:
    """``json.dumps``'s ``default`` for every output: one way to write a time."""
    return _json_default(value)


def to_json(obj: Any, *, indent: int | None = 2) -> str:
    """JSON with datetimes as ISO-8601 and dataclasses as objects."""
    return json.dumps(obj, default=_json_default, indent=indent, ensure_ascii=False)


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same
    directory and ``os.replace``, so readers see the old or the new file."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(
        dir=target.parent or Path("."), prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def prometheus_lines(
    name: str, help_text: str, samples: Iterable[Sample], *, kind: str = "gauge"
) -> list[str]:
    """One metric family in the text exposition format: HELP, TYPE, samples."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        if labels:
            inner = ",".join(
                f'{key}="{_label_value(str(val))}"' for key, val in labels.items()
            )
            lines.append(f"{name}{{{inner}}} {_number(value)}")
        else:
            lines.append(f"{name} {_number(value)}")
    return lines
