"""The Starlette application: agent UI, customer portal, knowledge base and HTTP API.

It changes tickets only through the ticket actions defined in `maild`.
"""

__all__: list[str] = []
