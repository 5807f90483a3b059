"""How admin commands refuse: one line on standard error, exit status 1.

`refusing(*errors)` wraps a command so that `Refused` (bad input the command itself noticed)
and the given store errors become that one line, naming the command.
"""

from __future__ import annotations

import functools
import sys
from argparse import Namespace
from collections.abc import Callable

from maild.config import Config

__all__ = ["Command", "Refused", "refusing"]

Command = Callable[[Config, Namespace], int]


class Refused(ValueError):
    """A command's input was wrong; the message is the one line the operator sees."""


def refusing(*errors: type[Exception]) -> Callable[[Command], Command]:
    def wrap(handler: Command) -> Command:
        @functools.wraps(handler)
        def run(config: Config, args: Namespace) -> int:
            try:
                return handler(config, args)
            except (Refused, *errors) as exc:
                print(f"maild {args.command} {args.action}: {exc}", file=sys.stderr)
                return 1

        return run

    return wrap
