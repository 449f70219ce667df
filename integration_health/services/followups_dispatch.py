"""Feeding account workers across batches, so no worker idles at a batch's end.

A batch claimed in due order often holds few accounts (all of one account's
steps come together), so waiting for a whole batch before claiming the next
left most workers idle. Here the next batch is claimed as soon as fewer
accounts have work than there are workers, and the steps of an account that
is still sending join that worker's queue: one worker per account still holds.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from integration_health.services.followups_send import (
    Claimed,
    RunContext,
    send_queue,
)
from integration_health.services.followups_sql import StepItem

Key = tuple[bool, str]


class Dispatcher:
    """Account queues of one run; every change under ``cond``."""

    def __init__(self, ctx: RunContext, pool: ThreadPoolExecutor) -> None:
        self.ctx = ctx
        self.pool = pool
        self.cond = threading.Condition()
        self.queues: dict[Key, deque[Claimed]] = {}
        self.futures: list[Future[None]] = []
        #: Steps taken off the queues (sent, deferred, skipped, ...).
        self.done = 0

    def add(self, owner: str, items: list[StepItem]) -> None:
        grouped: dict[Key, list[Claimed]] = defaultdict(list)
        for item in items:
            grouped[(item.is_linkedin, item.account_id or "")].append((owner, item))
        with self.cond:
            for key, entries in grouped.items():
                queue = self.queues.get(key)
                if queue is not None:
                    queue.extend(entries)
                    continue
                queue = self.queues[key] = deque(entries)
                self.futures.append(self.pool.submit(self._work, key, queue))

    def wait_for_room(self, workers: int) -> None:
        """Until fewer accounts have work than there are workers."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.queues) < workers)

    def drain(self) -> None:
        with self.cond:
            self.cond.wait_for(lambda: not self.queues)
        for future in self.futures:
            future.result()

    def _work(self, key: Key, queue: deque[Claimed]) -> None:
        try:
            send_queue(self.ctx, key[1], self._take(key, queue))
        finally:
            with self.cond:
                if self.queues.get(key) is queue:  # stopped early (abort)
                    del self.queues[key]
                self.cond.notify_all()

    def _take(self, key: Key, queue: deque[Claimed]) -> Iterator[Claimed]:
        while True:
            with self.cond:
                if not queue:
                    del self.queues[key]
                    self.cond.notify_all()
                    return
                entry = queue.popleft()
                self.done += 1
            yield entry
