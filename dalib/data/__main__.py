"""``python -m dalib.data``: see :func:`dalib.data.cli.main`."""

from .cli import main

raise SystemExit(main())
