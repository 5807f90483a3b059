"""`python -m maild` is the `maild` command."""

import sys

from maild.cli import main

sys.exit(main())
