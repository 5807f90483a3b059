"""The data layer: peewee models and the typed query functions the rest of maild uses.

`store` imports nothing from maild, rules or webui. Open the database with
`store.db.open_database(url)`; queries live in `store.inbound`, `store.tickets`, `store.agents` and
`store.outbound` (leases in `store.leases`, hot-path statements in `store.sql`). The fast
path that accepts a message without loading peewee is `store.accept`.
"""

__all__ = [
    "accept",
    "agents",
    "clock",
    "db",
    "inbound",
    "leases",
    "models",
    "outbound",
    "sql",
    "tickets",
]
