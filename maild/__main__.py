"""`python -m maild` is the `maild` command."""

import os
import sys

# `python -m` puts the current folder first on sys.path. An admin's folder of rule files
# named `rules/` there (the default place, next to config.toml) would hide the `rules`
# package; keep the folder only when it is a maild source tree.
if sys.path and not os.path.isfile(os.path.join(sys.path[0] or ".", "rules", "__init__.py")):
    del sys.path[0]

from maild.cli import main

sys.exit(main())
