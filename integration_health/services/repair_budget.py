"""How ``ghl repair --limit N`` is shared between workspace workers.

The limit bounds the jobs one run attempts in total. Each workspace is given
a fair share up front (max-min: small queues get all they need, the rest is
split evenly), so that every workspace with due jobs progresses even when
the limit is below the total due; what a workspace does not use goes to a
common pool that the workspaces still working draw from.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping


def fair_shares(demands: Mapping[int, int], total: int) -> dict[int, int]:
    """Split ``total`` over ``demands`` max-min fairly, never beyond a demand.

    Smallest demands are served first: each gets its demand or an even share
    (rounded down) of what is left, whichever is less; the last, largest one
    gets the rest, so the shares add up to all of ``total`` when demand
    exceeds it, and the rounding remainder goes to the longest queues.
    """
    shares: dict[int, int] = {}
    left = max(total, 0)
    order = sorted(demands, key=lambda key: (demands[key], key))
    for index, key in enumerate(order):
        even = left // (len(order) - index)
        shares[key] = min(max(demands[key], 0), even)
        left -= shares[key]
    return shares


class RunBudget:
    """The run's ``--limit``: per-workspace shares plus a common pool.

    Thread-safe. Without a limit every request is granted in full.
    """

    def __init__(self, limit: int | None, demands: Mapping[int, int]) -> None:
        self._unlimited = limit is None
        self._shares = fair_shares(demands, limit or 0)
        self._pool = (limit or 0) - sum(self._shares.values())
        self._lock = threading.Lock()

    def take(self, workspace_id: int, wanted: int) -> int:
        """Grant up to ``wanted`` jobs: the workspace's share first, then the pool."""
        if self._unlimited:
            return wanted
        with self._lock:
            own = min(wanted, self._shares.get(workspace_id, 0))
            self._shares[workspace_id] = self._shares.get(workspace_id, 0) - own
            shared = min(wanted - own, self._pool)
            self._pool -= shared
            return own + shared

    def give_back(self, workspace_id: int, unused: int) -> None:
        """Return jobs granted but not attempted (fewer were due, or a stop)."""
        if self._unlimited or unused <= 0:
            return
        with self._lock:
            self._shares[workspace_id] = self._shares.get(workspace_id, 0) + unused

    def finish(self, workspace_id: int) -> None:
        """The workspace is done: what is left of its share goes to the pool."""
        if self._unlimited:
            return
        with self._lock:
            self._pool += self._shares.pop(workspace_id, 0)
