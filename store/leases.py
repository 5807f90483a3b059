"""Leases on queued rows (inbound and outbound): who is working on what, until when.

A worker leases rows by pushing their `next_try` forward and writing its owner name in
`lease_owner`. A daemon's owner name is stable across restarts, so on start it takes back
at once whatever its previous run left half-done; anyone else waits for the lease to end.
"""

from __future__ import annotations

from datetime import timedelta

from peewee import Model

from store.clock import now
from store.db import transaction

__all__ = ["LEASE", "release"]

LEASE = timedelta(seconds=60)


def release(model: type[Model], owner: str) -> int:
    """Make pending rows of `model` leased by `owner` due again now; how many."""
    with transaction():
        return (
            model.update(next_try=now(), lease_owner="")
            .where((model.state == "pending") & (model.lease_owner == owner))
            .execute()
        )
