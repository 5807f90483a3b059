"""The two settings `maild pipe` needs, read without the full config machinery.

`maild pipe` runs once per message, so it must not pay for building the typed config
(dataclasses, typing, pathlib: ~20 ms of start-up). It reads the same file with tomllib,
checks the types of just these keys, and resolves the database URL the same way
`maild.config` does (this module owns that rule; `maild.config` uses it).
"""

from __future__ import annotations

import os
import tomllib

__all__ = ["DEFAULT_MAX_SIZE", "DEFAULT_STORE_URL", "PipeSettings", "read_pipe_settings"]

DEFAULT_STORE_URL = "sqlite:///data/maild.db"
DEFAULT_MAX_SIZE = 25 * 1024 * 1024


class PipeSettings:
    __slots__ = ("max_message_size", "store_url")

    def __init__(self, store_url: str, max_message_size: int) -> None:
        self.store_url = store_url
        self.max_message_size = max_message_size


def resolve_store_url(url: str, base: str) -> str:
    """A relative sqlite:/// path is relative to the config file's folder `base`."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return "sqlite:///" + os.path.join(base, url.removeprefix("sqlite:///"))
    return url


def read_pipe_settings(path: str) -> PipeSettings:
    """Raise ValueError naming the file and key when something needed is unusable."""
    path = os.path.abspath(path)
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    url = _get(table, path, "store", "url", str, DEFAULT_STORE_URL)
    size = _get(table, path, "smtp", "max_message_size", int, DEFAULT_MAX_SIZE)
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ValueError(f"{path}: [store] url must start with sqlite:/// or postgresql://")
    return PipeSettings(resolve_store_url(url, os.path.dirname(path)), size)


def _get(table: dict, path: str, section: str, key: str, kind: type, default):
    value = (
        table.get(section, {}).get(key, default)
        if isinstance(table.get(section, {}), dict)
        else None
    )
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{path}: [{section}] {key} must be {kind.__name__}, got {value!r}")
    return value
