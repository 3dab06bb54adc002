"""One owner per piece of work: an exclusive lock file, so that no training configuration is ever
trained by two processes at once (a ``train`` run and an ``asr`` run that needs the same model,
say, or two shards of a sweep).

The lock is a file ``<target>.lock`` created with ``O_CREAT | O_EXCL`` (atomic on local and NFS v3+
file systems) holding the owner's host, process id and start time. A second process waits until
the file is gone and then re-checks whether the work is done. A lock left by a process that died
on the *same* host is stale and taken over; a lock from another host is waited on, and the wait
message names the file to delete if that host is known to be gone.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path


class LockTimeout(TimeoutError):
    """The lock stayed held longer than ``max_wait_s``."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class FileLock:
    """``with FileLock(path) as lock:`` holds ``path`` exclusively; ``lock.waited`` tells whether
    another owner held it first (then the work it guarded may have been done meanwhile).

    ``poll_s``: seconds between checks while waiting; ``max_wait_s``: give up with
    :class:`LockTimeout` (``None`` waits for ever); ``on_wait(message)``: called once when the wait
    starts (default: print to stderr)."""

    def __init__(self, path, poll_s: float = 5.0, max_wait_s: float | None = None, on_wait=None):
        self.path = Path(path)
        self.poll_s, self.max_wait_s = float(poll_s), max_wait_s
        self.on_wait = on_wait
        self.waited = False
        self._held = False

    def _owner(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return None  # gone, or being written this instant

    def _try_create(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}, f)
        return True

    def _stale(self, owner: dict | None) -> bool:
        return (owner is not None and owner.get("host") == socket.gethostname()
                and isinstance(owner.get("pid"), int) and owner["pid"] != os.getpid() and not _alive(owner["pid"]))

    def acquire(self) -> "FileLock":
        t0 = time.monotonic()
        while not self._try_create():
            owner = self._owner()
            if self._stale(owner):  # its owner died on this host: take it over
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass
                continue
            if not self.waited:
                self.waited = True
                who = "another process" if owner is None else f"process {owner.get('pid')} on {owner.get('host')}"
                msg = (f"waiting for {who}, which holds {self.path} (delete that file only if its owner is "
                       "known to be gone)")
                if self.on_wait is None:
                    import sys
                    print(msg, file=sys.stderr, flush=True)
                else:
                    self.on_wait(msg)
            if self.max_wait_s is not None and time.monotonic() - t0 > self.max_wait_s:
                raise LockTimeout(f"{self.path} still held after {self.max_wait_s:.0f} s by {owner}")
            time.sleep(self.poll_s)
        self._held = True
        return self

    def release(self) -> None:
        if self._held:
            self._held = False
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def __enter__(self) -> "FileLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
