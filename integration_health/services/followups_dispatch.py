"""Feeding account workers across batches, so no worker idles at a run's end.

A batch claimed in due order often holds few accounts (all of one account's
steps come together), so waiting for a whole batch before claiming the next
left most workers idle. Here the next batch is claimed as soon as fewer
accounts have work than there are workers, or fewer steps wait than one batch
holds, so that an account whose steps come late in due order still starts
early enough to finish with the others.

Each account has one queue, and at most one worker sends for it at a time, in
queue order. Workers take turns: when accounts are waiting and a worker has
sent for one account for ``SLICE_SECONDS``, it puts that account back and
takes the waiting account with the most steps left. Without turns, 50 equal
accounts on 16 workers ran in four rounds, the last with two accounts busy
and 14 workers idle; longest-first keeps every account finishing near the
same time. Spacing is kept across turns (it lives in the run's context); a
turn costs opening the account again (on PostgreSQL its advisory lock and one
daily-cap count).
"""

from __future__ import annotations

import threading
import time
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

#: How long a worker keeps one account while other accounts wait for a worker.
SLICE_SECONDS = 1.0


class Dispatcher:
    """Account queues of one run and the workers serving them.

    Every change happens under ``cond``. ``workers`` threads are started on the
    first batch and end once :meth:`drain` is called and every queue is empty
    (or the run is aborted).
    """

    def __init__(
        self,
        ctx: RunContext,
        pool: ThreadPoolExecutor,
        workers: int,
        low_water: int,
    ) -> None:
        self.ctx = ctx
        self.pool = pool
        self.workers = max(1, workers)
        self.low_water = low_water
        self.slice_seconds = SLICE_SECONDS
        self.cond = threading.Condition()
        self.queues: dict[Key, deque[Claimed]] = {}
        #: Accounts a worker is sending for right now.
        self.busy: set[Key] = set()
        self.futures: list[Future[None]] = []
        self.closed = False
        #: Steps taken off the queues (sent, deferred, skipped, ...).
        self.done = 0
        #: Steps claimed and not yet taken off the queues.
        self.waiting = 0

    def add(self, owner: str, items: list[StepItem]) -> None:
        grouped: dict[Key, list[Claimed]] = defaultdict(list)
        for item in items:
            grouped[(item.is_linkedin, item.account_id or "")].append((owner, item))
        with self.cond:
            self.waiting += len(items)
            for key, entries in grouped.items():
                self.queues.setdefault(key, deque()).extend(entries)
            while len(self.futures) < min(self.workers, len(self.queues)):
                self.futures.append(self.pool.submit(self._worker))
            self.cond.notify_all()

    def wait_for_room(self) -> None:
        """Until an idle worker or a short line calls for the next batch."""
        with self.cond:
            self.cond.wait_for(
                lambda: (
                    len(self.queues) < self.workers
                    or self.waiting < self.low_water
                    or self.ctx.abort.is_set()
                )
            )

    def drain(self) -> None:
        """No more batches: wait until the workers have emptied every queue."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        for future in list(self.futures):
            future.result()

    def _ready(self) -> list[Key]:
        return [key for key in self.queues if key not in self.busy]

    def _next(self) -> Key | None:
        """The waiting account with the most steps left; None: stop working."""
        with self.cond:
            while True:
                if self.ctx.abort.is_set():
                    return None
                ready = self._ready()
                if ready:
                    key = max(ready, key=lambda k: len(self.queues[k]))
                    self.busy.add(key)
                    return key
                if self.closed and not self.queues:
                    return None
                self.cond.wait(0.5)

    def _worker(self) -> None:
        while (key := self._next()) is not None:
            turn = _Turn(time.monotonic() + self.slice_seconds)
            try:
                send_queue(self.ctx, key[1], self._take(key, turn))
            finally:
                with self.cond:
                    self.busy.discard(key)
                    queue = self.queues.get(key)
                    # Stopped early, or the account could not be opened at
                    # all (its turn took nothing): its claims go back.
                    stopped = self.ctx.abort.is_set() or not turn.taken
                    if queue is not None and stopped:
                        del self.queues[key]
                        self.waiting -= len(queue)
                    self.cond.notify_all()

    def _take(self, key: Key, turn: _Turn) -> Iterator[Claimed]:
        queue = self.queues[key]
        while True:
            with self.cond:
                if not queue:
                    del self.queues[key]
                    self.cond.notify_all()
                    return
                if turn.taken and time.monotonic() >= turn.ends and self._ready():
                    return  # another account's turn; this queue stays
                turn.taken += 1
                entry = queue.popleft()
                self.done += 1
                self.waiting -= 1
                if self.waiting < self.low_water:
                    self.cond.notify_all()
            yield entry


class _Turn:
    """One worker's turn at one account: when it ends, how many steps it took."""

    def __init__(self, ends: float) -> None:
        self.ends = ends
        self.taken = 0
