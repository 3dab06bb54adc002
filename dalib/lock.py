"""One owner per piece of work: an exclusive lock, so that no training configuration is ever trained
by two processes at once (a ``train`` run and an ``asr`` run that needs the same model, say, or two
shards of a sweep).

The lock is ``fcntl.flock(LOCK_EX)`` on a file ``<target>.lock`` that is never deleted. The kernel
releases a flock when its holder exits, however it dies (``kill -9`` included), so a dead owner
leaves nothing to take over, and two waiters can never both "take over" a stale lock: there is no
stale state, only a file that nobody holds. (The earlier protocol, ``O_EXCL`` creation and deletion
of a stale file by each waiter, let two processes hold the lock at once in 57 of 200 trials.) On
NFS, Linux maps ``flock`` onto the server's byte-range locks, which the server drops when the
holder's host stops renewing its lease.

The holder writes its host, process id and start time into the file after it has the lock, for
the messages of waiters; an empty file or one naming a dead process means nothing. Every wait has a
limit (``max_wait_s``, default ``$DALIB_LOCK_MAX_WAIT_S`` or 24 hours) and fails with
:class:`LockTimeout`, naming the file and its holder.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

MAX_WAIT_ENV = "DALIB_LOCK_MAX_WAIT_S"
DEFAULT_MAX_WAIT_S = 24 * 3600.0  # a 100-epoch paper-profile training run takes hours; a day is a hang


class LockTimeout(TimeoutError):
    """The lock stayed held longer than ``max_wait_s``."""


def default_max_wait_s() -> float:
    raw = os.environ.get(MAX_WAIT_ENV)
    if raw is None:
        return DEFAULT_MAX_WAIT_S
    try:
        v = float(raw)
    except ValueError:
        raise ValueError(f"${MAX_WAIT_ENV}={raw!r} is not a number of seconds") from None
    if not v > 0 or v != v:
        raise ValueError(f"${MAX_WAIT_ENV}={raw!r} must be a positive number of seconds")
    return v


class FileLock:
    """``with FileLock(path) as lock:`` holds ``path`` exclusively; ``lock.waited`` tells whether
    another owner held it first (then the work it guarded may have been done meanwhile).

    ``poll_s``: seconds between tries while waiting; ``max_wait_s``: give up with
    :class:`LockTimeout` (default :func:`default_max_wait_s`); ``on_wait(message)``: called once
    when the wait starts (default: print to stderr)."""

    def __init__(self, path, poll_s: float = 5.0, max_wait_s: float | None = None, on_wait=None):
        self.path = Path(path)
        self.poll_s = float(poll_s)
        self.max_wait_s = default_max_wait_s() if max_wait_s is None else float(max_wait_s)
        self.on_wait = on_wait
        self.waited = False
        self._fd: int | None = None

    def holder(self) -> dict | None:
        """What the current (or last) holder wrote: ``{"host", "pid", "started"}``, or None."""
        try:
            return json.loads(self.path.read_text() or "null")
        except (FileNotFoundError, ValueError):
            return None

    def _describe(self) -> str:
        h = self.holder()
        if not isinstance(h, dict):
            return "another process"
        return f"process {h.get('pid')} on {h.get('host')} (since {time.ctime(h.get('started', 0))})"

    def acquire(self) -> "FileLock":
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this FileLock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        t0 = time.monotonic()
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    pass
                waited_s = time.monotonic() - t0
                if not self.waited:
                    self.waited = True
                    msg = (
                        f"waiting for {self._describe()}, which holds {self.path} (limit "
                        f"{self.max_wait_s:.0f} s, ${MAX_WAIT_ENV})"
                    )
                    if self.on_wait is None:
                        import sys

                        print(msg, file=sys.stderr, flush=True)
                    else:
                        self.on_wait(msg)
                if waited_s > self.max_wait_s:
                    raise LockTimeout(
                        f"{self.path} still held after {waited_s:.0f} s by {self._describe()}; "
                        f"raise ${MAX_WAIT_ENV} to wait longer, or stop that process"
                    )
                time.sleep(min(self.poll_s, max(self.max_wait_s - waited_s, 0.0) + 1e-3))
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(
            fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}).encode(), 0
        )
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)  # the file stays (deleting it would let a waiter lock a stale inode)
            finally:
                os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> "FileLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
