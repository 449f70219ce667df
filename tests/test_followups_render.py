"""Templates: two placeholders filled in, every other brace sent as written."""

from __future__ import annotations

import pytest

from integration_health.services.followups_send import render
from integration_health.services.followups_sql import StepItem


def _item(first: str | None = "Ann", last: str | None = "Lee") -> StepItem:
    return StepItem(
        instance_id=1, lead_id=1, workspace_id=1, workspace_external_id="w",
        lead_external_id="l", position=0, channel="linkedin_message", template=None,
        step_attempts=0, first_name=first, last_name=last, linkedin_identifier=None,
        linkedin_provider_id=None, linkedin_chat_id=None, ghl_contact_id=None,
        unipile_account_id=None, ghl_location_id=None, ghl_api_key=None,
        next_step=None,
    )  # fmt: skip


def test_both_names_are_filled_in() -> None:
    assert render("Hi {first_name} {last_name}!", _item()) == "Hi Ann Lee!"


def test_a_missing_name_renders_empty() -> None:
    assert render("Hi {first_name},", _item(first=None)) == "Hi ,"


@pytest.mark.parametrize(
    "template",
    [
        "{0} and {}",
        "a lone { brace",
        'data: {"a": 1}',
        "{first_name.__class__}",
        "{first_name:>5000}",
        "{first_name!r}",
        "{unknown}",
    ],
)
def test_any_other_brace_is_sent_as_written(template: str) -> None:
    assert render(template, _item()) == template


def test_no_template_renders_empty() -> None:
    assert render(None, _item()) == ""
