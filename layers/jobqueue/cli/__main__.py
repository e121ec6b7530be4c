"""`python -m jobqueue.cli`: the `jobqueue` command without the console script."""

from __future__ import annotations

import sys

from jobqueue.cli import main

sys.exit(main())
