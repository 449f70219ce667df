"""Fixtures that start a sandbox: the default scenario, or one a test builds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from integration_health.sandbox import Sandbox

SandboxFactory = Callable[..., Sandbox]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A started sandbox on the shipped default scenario, stopped afterwards."""
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def make_sandbox() -> Iterator[SandboxFactory]:
    """Start sandboxes on given scenarios; every one is stopped afterwards."""
    started: list[Sandbox] = []

    def factory(
        scenario: dict[str, Any] | Path | None = None, **kwargs: Any
    ) -> Sandbox:
        sb = Sandbox(scenario, **kwargs).start()
        started.append(sb)
        return sb

    yield factory
    for sb in started:
        sb.stop()
