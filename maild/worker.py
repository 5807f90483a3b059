"""The processing worker: claims pending inbound rows and runs each through the pipeline.

A batch is leased in one short transaction and parsed outside any transaction; then its
messages are stored a few at a time, one transaction per group with a savepoint per
message: a message that raises is rolled back alone and retried with back-off (quarantined
once its attempts are used up), the others commit together. A crash rolls back the group
in hand; its leases run out (or the restarted daemon takes them back), so every effect
happens exactly once.

Between batches the worker looks at the rule files (at most once a second: a stat per
file) and loads them again when one changed, so an edited rule applies to the next message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from maild.parse import ParsedMessage, parse
from maild.pipeline import Pipeline, Unprocessable
from store import inbound
from store.db import transaction
from store.models import Inbound, database

__all__ = ["process_all_now", "process_batch", "run_worker"]

log = logging.getLogger(__name__)

WRITE_CHUNK = 10
RULES_CHECK_SECONDS = 1.0


def process_batch(pipeline: Pipeline, owner: str = "") -> int:
    """Process up to one batch of due messages; return how many were claimed.

    `owner` names this process in the leases it takes (see `store.inbound`). Messages are
    parsed before the write transaction starts, so the database is locked only for the
    short work of storing them.
    """
    settings = pipeline.config.processing
    claimed, worn = inbound.claim_pending(
        settings.batch_size, max_attempts=settings.max_attempts, owner=owner
    )
    for row_id in worn:
        log.error("inbound %s quarantined: its attempts never finished", row_id)
    if not claimed:
        return len(worn)
    parsed = [(row, _parse(row)) for row in claimed]
    # Short write transactions: on SQLite the intake waits for the write lock to commit
    # (and to answer 250), so holding it for a whole batch would stall accepting mail.
    for start in range(0, len(parsed), WRITE_CHUNK):
        with transaction():
            for row, msg in parsed[start : start + WRITE_CHUNK]:
                _process_one(pipeline, row, msg)
    return len(claimed)


def _parse(row: Inbound) -> ParsedMessage | None:
    try:
        return parse(bytes(row.raw))
    except Exception:
        # parse() is built never to raise; if it does, processing reports it properly.
        log.exception("inbound %s: parse failed", row.id)
        return None


def _process_one(pipeline: Pipeline, row: Inbound, msg: ParsedMessage | None) -> None:
    settings = pipeline.config.processing
    try:
        with database.atomic():
            if not inbound.still_pending(row.id):
                return
            outcome = pipeline.process(row, msg)
            number = outcome.ticket.number if outcome.ticket else None
            inbound.finish(
                row.id,
                state=outcome.state,
                outcome=outcome.note,
                message_id=outcome.message_id,
                ticket_id=outcome.ticket.id if outcome.ticket else None,
            )
        log.info(
            "inbound %s <%s> -> %s ticket=%s: %s",
            row.id, outcome.message_id, outcome.state, number, outcome.note,
        )  # fmt: skip
    except Unprocessable as exc:
        inbound.quarantine(row.id, str(exc))
        log.warning("inbound %s quarantined: %s", row.id, exc)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if row.attempts >= settings.max_attempts:
            inbound.quarantine(row.id, f"failed {row.attempts} times; last error: {reason}")
            log.exception("inbound %s quarantined after %s attempts", row.id, row.attempts)
        else:
            delay = settings.retry_delay * 2 ** (row.attempts - 1)
            inbound.retry_later(row.id, reason, delay)
            log.exception(
                "inbound %s failed (attempt %s), retry in %.1fs", row.id, row.attempts, delay
            )


def run_worker(
    pipeline: Pipeline,
    stop: threading.Event,
    wake: threading.Event,
    *,
    owner: str,
    after_batch: Callable[[], None] = lambda: None,
    alive: Callable[[], bool] = lambda: True,
    reload_rules: Callable[[], bool] = lambda: False,
) -> None:
    """Process until `stop` is set (or `alive()` says the parent is gone).

    When idle, sleep until `wake` is set or a short poll interval passes. `reload_rules()`
    says the rules must be read again even if no file changed (SIGHUP: e.g. new agents).
    """
    rules_checked = 0.0
    while not stop.is_set() and alive():
        try:
            if time.monotonic() - rules_checked >= RULES_CHECK_SECONDS:
                rules_checked = time.monotonic()
                pipeline.rules.refresh(force=reload_rules())
            busy = process_batch(pipeline, owner)
        except Exception:
            log.exception("processing worker: batch failed; retrying shortly")
            busy = 0
        if busy:
            after_batch()
        else:
            wake.wait(0.25)
            wake.clear()


def process_all_now(pipeline: Pipeline, owner: str) -> None:
    """Process everything pending, then deliver what is due: for one-off commands
    (`maild pipe`, `maild fetch`) that run while no daemon does."""
    from maild.delivery import Deliverer

    while process_batch(pipeline, owner):
        pass
    deliverer = Deliverer(pipeline.config, owner=owner)
    try:
        deliverer.deliver_due()
    finally:
        deliverer.close()
