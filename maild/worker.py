"""The processing worker: claims pending inbound rows and runs each through the pipeline.

A batch is leased in one short transaction, then processed in one transaction with a
savepoint per message: a message that raises is rolled back alone and retried with
back-off (quarantined once its attempts are used up), the others commit together with one
fsync. A crash anywhere rolls the whole batch back and the leases run out, so every effect
happens exactly once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from maild.pipeline import Pipeline, Unprocessable
from store import inbound
from store.db import transaction
from store.models import database

__all__ = ["process_batch", "run_worker"]

log = logging.getLogger(__name__)


def process_batch(pipeline: Pipeline, owner: str = "") -> int:
    """Process up to one batch of due messages; return how many were claimed.

    `owner` names this process in the leases it takes (see `store.inbound`).
    """
    settings = pipeline.config.processing
    claimed, worn = inbound.claim_pending(
        settings.batch_size, max_attempts=settings.max_attempts, owner=owner
    )
    for row_id in worn:
        log.error("inbound %s quarantined: its attempts never finished", row_id)
    if not claimed:
        return len(worn)
    with transaction():
        for row_id in claimed:
            _process_one(pipeline, row_id)
    return len(claimed)


def _process_one(pipeline: Pipeline, row_id: int) -> None:
    settings = pipeline.config.processing
    row = None
    try:
        with database.atomic():
            row = inbound.lock_pending(row_id)
            if row is None:
                return
            outcome = pipeline.process(row)
            number = outcome.ticket.number if outcome.ticket else None
            inbound.finish(
                row_id,
                state=outcome.state,
                outcome=outcome.note,
                message_id=outcome.message_id,
                ticket_id=outcome.ticket.id if outcome.ticket else None,
            )
        log.info(
            "inbound %s <%s> -> %s ticket=%s: %s",
            row_id, outcome.message_id, outcome.state, number, outcome.note,
        )  # fmt: skip
    except Unprocessable as exc:
        inbound.quarantine(row_id, str(exc))
        log.warning("inbound %s quarantined: %s", row_id, exc)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        attempts = row.attempts if row is not None else settings.max_attempts
        if attempts >= settings.max_attempts:
            inbound.quarantine(row_id, f"failed {attempts} times; last error: {reason}")
            log.exception("inbound %s quarantined after %s attempts", row_id, attempts)
        else:
            delay = settings.retry_delay * 2 ** (attempts - 1)
            inbound.retry_later(row_id, reason, delay)
            log.exception("inbound %s failed (attempt %s), retry in %.0fs", row_id, attempts, delay)


def run_worker(
    pipeline: Pipeline,
    stop: threading.Event,
    wake: threading.Event,
    *,
    owner: str,
    after_batch: Callable[[], None] = lambda: None,
) -> None:
    """Process until `stop` is set; sleep until `wake` (or a short poll) when idle."""
    while not stop.is_set():
        try:
            busy = process_batch(pipeline, owner)
        except Exception:
            log.exception("processing worker: batch failed; retrying shortly")
            busy = 0
        if busy:
            after_batch()
        else:
            wake.wait(0.25)
            wake.clear()
