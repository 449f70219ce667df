"""Sending claimed follow-up steps: one worker per account, at most once each.

A worker owns one sending account (a Unipile account, or a GHL location) and
sends its steps in order, spaced out, each in three short transactions: the
``sending`` row (committed before the call), the call, then the outcome.
Workers of different accounts run concurrently; each opens its own sessions.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from integration_health.config import Settings
from integration_health.errors import Category, DatabaseError, ProviderError
from integration_health.models import Channel
from integration_health.redact import redact
from integration_health.services import followups_db as fdb
from integration_health.services.followups_sql import StepItem
from integration_health.services.followups_worker import AccountDb, account_db

logger = logging.getLogger(__name__)

#: LinkedIn's limit on an invitation note.
INVITE_NOTE_MAX = 300
#: Why and how long a step waits whose workspace has no sending account.
NO_ACCOUNT = "no_sending_account"
NO_ACCOUNT_WAIT = timedelta(hours=1)


class LinkedInSender(Protocol):
    """What the engine needs of the Unipile client (``clients.unipile``)."""

    def get_profile(self, identifier: str, account_id: str) -> Any: ...

    def start_chat(
        self, account_id: str, attendee_ids: list[str], text: str
    ) -> Any: ...

    def send_message(self, chat_id: str, text: str) -> Any: ...

    def send_invitation(
        self, account_id: str, provider_id: str, message: str
    ) -> Any: ...


class SmsSender(Protocol):
    """What the engine needs of the GHL client (``clients.ghl``)."""

    def send_sms(self, token: str, contact_id: str, text: str) -> Any: ...


#: The placeholders a template may use; anything else in braces is text.
_PLACEHOLDER = re.compile(r"\{(first_name|last_name)\}")


def render(template: str | None, item: StepItem) -> str:
    """``{first_name}`` and ``{last_name}`` filled in; a missing name is empty.

    Only those two exact placeholders are replaced; every other brace (JSON,
    ``{0}``, a lone ``{``, ``{first_name.__class__}``, ``{first_name:>99}``)
    is sent as written, so a template never fails to render and never
    reaches into the program's objects or grows past what was written.
    """
    names = {"first_name": item.first_name or "", "last_name": item.last_name or ""}
    return _PLACEHOLDER.sub(lambda found: names[found.group(1)], template or "")


def full_jitter(attempt: int, *, base: float, cap: float, rand: float) -> float:
    """Seconds to wait: uniform in [0, min(cap, base * 2**attempt)]."""
    return rand * min(cap, base * (2 ** max(attempt, 0)))


@dataclass
class RunContext:
    """Shared state of one run's workers; every mutation under ``lock``."""

    engine: Engine
    settings: Settings
    owner: str
    linkedin: LinkedInSender | None
    sms: SmsSender | None
    now: Callable[[], datetime]
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random
    clock: Callable[[], float] = time.monotonic
    lock: threading.Lock = field(default_factory=threading.Lock)
    abort: threading.Event = field(default_factory=threading.Event)
    config_error: ProviderError | None = None
    #: (provider, workspace_id) cut off during this run: send nothing more.
    stopped: set[tuple[str, int]] = field(default_factory=set)
    #: Providers this run could not connect to at all: no more sends to them.
    unreachable: set[str] = field(default_factory=set)
    #: account -> time its backoff ends (throttled during this run).
    throttled: dict[str, datetime] = field(default_factory=dict)
    #: (account, channel) -> when the daily cap opens again.
    capped: dict[tuple[str, str], datetime] = field(default_factory=dict)
    last_send: dict[str, float] = field(default_factory=dict)
    healthy: set[tuple[str, int]] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    details: list[dict[str, Any]] = field(default_factory=list)

    def count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n


#: A claimed step and the lease owner (the batch) that claimed it.
Claimed = tuple[str, StepItem]


def send_queue(ctx: RunContext, account: str, items: Iterable[Claimed]) -> None:
    """Send one account's steps in order; never raises (errors are counted).

    ``items`` may grow while it is consumed (later batches of the same account).
    """
    try:
        with account_db(ctx.engine, account) as db:
            _send_all(ctx, db, items)
    except Exception as exc:
        _crashed(ctx, "follow-up account worker crashed", exc)


def _send_all(ctx: RunContext, db: AccountDb, items: Iterable[Claimed]) -> None:
    for owner, item in items:
        if ctx.abort.is_set():
            return
        try:
            _one(ctx, db, owner, item)
        except ProviderError as exc:  # a config error: the run stops
            with ctx.lock:
                ctx.config_error = ctx.config_error or exc
            ctx.abort.set()
            return
        except Exception as exc:
            _crashed(ctx, f"follow-up step of instance {item.instance_id} crashed", exc)
            if ctx.abort.is_set():
                return


def _crashed(ctx: RunContext, what: str, exc: Exception) -> None:
    """Count an unexpected failure; a database failure stops the whole run.

    One line on stderr; the traceback only at debug level (``-v``). The
    step's claim is left to expire, so a later run takes it up again.
    """
    database = isinstance(exc, DatabaseError | SQLAlchemyError)
    logger.error(
        "%s: %s: %s",
        what,
        type(exc).__name__,
        redact(str(exc).splitlines()[0] if str(exc) else ""),
        exc_info=logger.isEnabledFor(logging.DEBUG),
        extra={"action": "followups.crashed"},
    )
    ctx.count("crashed")
    if database:
        ctx.abort.set()


def _provider(item: StepItem) -> str:
    return "unipile" if item.is_linkedin else "ghl"


def _one(ctx: RunContext, db: AccountDb, owner: str, item: StepItem) -> None:
    account = item.account_id
    provider = _provider(item)
    if (provider, item.workspace_id) in ctx.stopped or provider in ctx.unreachable:
        ctx.count("skipped")  # left due: a later run tries again
        return
    now = ctx.now()
    if not account:
        # Nothing to send through until the workspace is imported with its
        # Unipile account or GHL location: look again in an hour, not at
        # every run, and say why.
        with db.session() as session:
            until = now + NO_ACCOUNT_WAIT
            fdb.defer(session, item, until=until, reason=NO_ACCOUNT, now=now)
        ctx.count(f"deferred:{NO_ACCOUNT}")
        return
    held = ctx.throttled.get(account) or ctx.capped.get((account, item.channel))
    if held is not None:
        reason = "account_throttled" if account in ctx.throttled else "daily_cap"
        with db.session() as session:
            fdb.defer(session, item, until=held, reason=reason, now=now)
        ctx.count(f"deferred:{reason}")
        return
    problem = _invalid(item)
    if problem is not None:
        with db.session() as session:
            fdb.fail(
                session,
                item,
                category=Category.VALIDATION_ERROR.value,
                code=problem,
                now=now,
            )
        ctx.count("failed")
        return
    _space(ctx, account)
    if ctx.abort.is_set():  # stopped while waiting: leave the step claimed
        ctx.count("skipped")
        return
    attempt_id = _begin(ctx, db, owner, item, account)
    if attempt_id is not None:
        _call_and_finish(ctx, db, item, attempt_id)


def _invalid(item: StepItem) -> str | None:
    """Why the step cannot be sent as written (no call is made), or None."""
    if item.is_linkedin and not (item.linkedin_provider_id or item.linkedin_identifier):
        return "no_linkedin_profile"
    invite = item.channel == Channel.LINKEDIN_INVITE.value
    if invite and len(render(item.template, item)) > INVITE_NOTE_MAX:
        return "invitation_note_too_long"
    if item.channel == Channel.SMS.value and not item.ghl_api_key:
        return "no_ghl_api_key"
    return None


def _space(ctx: RunContext, account: str) -> None:
    """Keep sends of one account ``spacing`` (+0-50% jitter) apart."""
    spacing = ctx.settings.linkedin_send_spacing_seconds
    with ctx.lock:
        last = ctx.last_send.get(account)
        gap = spacing * (1 + 0.5 * ctx.rand())
    if last is not None and spacing > 0:
        remaining = last + gap - ctx.clock()
        if remaining > 0 and ctx.sleep is time.sleep:
            ctx.abort.wait(remaining)  # real time: a stop ends the wait at once
        elif remaining > 0:
            ctx.sleep(remaining)
    with ctx.lock:
        ctx.last_send[account] = ctx.clock()


def _begin(
    ctx: RunContext, db: AccountDb, owner: str, item: StepItem, account: str
) -> int | None:
    """Commit the ``sending`` row, or defer on the daily cap; None: no send."""
    now = ctx.now()
    until = now + timedelta(seconds=ctx.settings.lease_seconds)
    cap = fdb.daily_cap(ctx.settings, item.channel)
    begun = db.begin(item, owner=owner, now=now, until=until, cap=cap)
    if begun == "lost":
        ctx.count("skipped")
        return None
    if begun == "daily_cap":
        with ctx.lock:
            ctx.capped[(account, item.channel)] = fdb.next_utc_day(now)
        ctx.count("deferred:daily_cap")
        return None
    assert isinstance(begun, int)
    return begun


@dataclass
class _Sent:
    message_id: str | None
    provider_id: str | None = None
    chat_id: str | None = None


def _call_and_finish(
    ctx: RunContext, db: AccountDb, item: StepItem, attempt_id: int
) -> None:
    stage = "lookup"
    try:
        if item.is_linkedin:
            sent = _linkedin(ctx, item, on_send=lambda: None)
        else:
            stage = "send"
            sent = _sms(ctx, item)
    except ProviderError as exc:
        from integration_health.services.followups_errors import handle_failure

        handle_failure(
            ctx,
            item,
            attempt_id,
            exc,
            during=getattr(exc, "_fu_stage", stage),
            scope=db.session,
        )
        return
    now = ctx.now()
    db.finish_sent(
        item,
        attempt_id,
        message_id=sent.message_id,
        provider_id=sent.provider_id,
        chat_id=sent.chat_id,
        now=now,
    )
    _record_ok(ctx, db, item, now)
    ctx.count("sent")


def _record_ok(ctx: RunContext, db: AccountDb, item: StepItem, now: datetime) -> None:
    """One OK observation per workspace and provider per run (heals, resumes)."""
    from integration_health.services.followups_errors import record_ok

    key = (_provider(item), item.workspace_id)
    with ctx.lock:
        if key in ctx.healthy:
            return
        ctx.healthy.add(key)
    with db.session() as session:
        record_ok(ctx, session, item, now)


def _tag(exc: ProviderError, stage: str) -> ProviderError:
    exc._fu_stage = stage  # type: ignore[attr-defined]
    return exc


def _linkedin(ctx: RunContext, item: StepItem, on_send: Callable[[], None]) -> _Sent:
    assert ctx.linkedin is not None and item.unipile_account_id is not None
    client, account = ctx.linkedin, item.unipile_account_id
    text = render(item.template, item)
    provider_id = item.linkedin_provider_id
    if item.channel == Channel.LINKEDIN_MESSAGE.value and item.linkedin_chat_id:
        try:
            result = client.send_message(item.linkedin_chat_id, text)
        except ProviderError as exc:
            raise _tag(exc, "send") from None
        return _Sent(message_id=result.message_id)
    if provider_id is None:
        try:
            profile = client.get_profile(item.linkedin_identifier or "", account)
        except ProviderError as exc:
            raise _tag(exc, "lookup") from None
        provider_id = str(profile.provider_id)
    try:
        if item.channel == Channel.LINKEDIN_INVITE.value:
            invited = client.send_invitation(account, provider_id, text)
            return _Sent(message_id=invited.invitation_id, provider_id=provider_id)
        chat = client.start_chat(account, [provider_id], text)
    except ProviderError as exc:
        raise _tag(exc, "send") from None
    return _Sent(
        message_id=chat.message_id, provider_id=provider_id, chat_id=chat.chat_id
    )


def _sms(ctx: RunContext, item: StepItem) -> _Sent:
    assert ctx.sms is not None
    text = render(item.template, item)
    result = ctx.sms.send_sms(item.ghl_api_key or "", item.ghl_contact_id or "", text)
    return _Sent(message_id=result.message_id)
