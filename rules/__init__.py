"""The rule engine: pure (stdlib only; imports nothing from maild, store or webui).

The shipped, commented example rule files live beside it as `*.toml`. Admins point
`[paths] rules` at their own folder.
"""

__all__: list[str] = []
