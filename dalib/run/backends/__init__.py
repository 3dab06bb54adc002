"""Where the runner's pending runs execute: :mod:`~dalib.run.backends.local` (processes on this
machine, ``--jobs N``) or :mod:`~dalib.run.backends.ray` (one Ray task per run, ``--backend ray``).
Both call :func:`dalib.run.execute.execute`, which writes each record atomically."""
