"""How ``ghl repair --limit`` splits its budget between workspaces."""

from __future__ import annotations

import pytest

from integration_health.services.repair_budget import RunBudget, fair_shares


@pytest.mark.parametrize(
    ("demands", "total", "shares"),
    [
        ({1: 80, 2: 32, 3: 35, 4: 1}, 500, {1: 80, 2: 32, 3: 35, 4: 1}),
        ({1: 80, 2: 32, 3: 35, 4: 1}, 100, {1: 34, 2: 32, 3: 33, 4: 1}),
        ({1: 5, 2: 5, 3: 5}, 2, {1: 0, 2: 1, 3: 1}),
        ({1: 7}, 0, {1: 0}),
    ],
)
def test_fair_shares_serve_small_queues_whole_and_split_the_rest(
    demands: dict[int, int], total: int, shares: dict[int, int]
) -> None:
    assert fair_shares(demands, total) == shares


def test_a_finished_workspace_leaves_its_share_to_the_others() -> None:
    budget = RunBudget(10, {1: 5, 2: 10})
    assert budget.take(1, 200) == 5
    budget.give_back(1, 4)
    budget.finish(1)
    assert budget.take(2, 200) == 9
    assert budget.take(2, 200) == 0


def test_without_a_limit_every_request_is_granted() -> None:
    assert RunBudget(None, {1: 3}).take(1, 200) == 200
