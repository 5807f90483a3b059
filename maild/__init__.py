"""maild: an email-first helpdesk daemon.

The command line (`maild.cli`) is the composition root; the message path runs
intake (`smtp`, `pipe`) → `worker` → `pipeline` (`parse`, `classify`, `threader`,
`quotes`, `notices`, `compose`) → `delivery`.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
