"""One run per run directory: an exclusive lock file `<run>/.xstilts.lock`.

The lock is a file created with O_EXCL (atomic on local filesystems and on NFS v3+, so two drivers on two hosts of a
cluster exclude each other too) holding the owner's pid, host, process start time and command. A second run refuses
with one line naming the owner, or waits for it (`--wait`). A lock whose owner is dead (same host, pid gone or reused
by another process) is stale and taken over; the takeover is serialized by an flock on a guard file, so two runs
finding the same stale lock cannot both take it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from xstilts.errors import UserError

LOCK_FILE = ".xstilts.lock"
_HELD: dict[str, int] = {}  # lock path -> depth: a process may take its own lock again (CLI, then the scheduler)


def _proc_start(pid: int) -> str | None:
    """The kernel's start time of a process (distinguishes a reused pid); None where /proc is unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 (starttime), counted after the command name


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    now = _proc_start(pid)
    return start is None or now is None or now == start


def _owner() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "proc_start": _proc_start(os.getpid()),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(sys.argv),
    }


def _disk_error(path: Path, e: OSError) -> UserError:
    return UserError(
        f"cannot write the run directory: {e.strerror or e}; expected a writable directory with free space",
        path=str(path),
    )


class RunLock:
    """Exclusive ownership of a run directory for the life of a run (a context manager)."""

    def __init__(self, out: Path, wait: bool = False, poll_seconds: float = 1.0):
        self.out = Path(out)
        self.path = self.out / LOCK_FILE
        self.wait = wait
        self.poll = poll_seconds
        self.note: str | None = None  # a line saying a stale lock was taken over

    def _try_create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(_owner()))
        return True

    def _read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # being written right now, or garbage: treated as held (never taken over blindly)

    def _take_over_if_stale(self, owner: dict[str, Any]) -> bool:
        if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
            return False  # another host's process cannot be checked from here
        if _alive(owner["pid"], owner.get("proc_start")):
            return False
        with open(self.out / f"{LOCK_FILE}.guard", "a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            if self._read() != owner:  # someone else took it over meanwhile
                return False
            self.path.unlink(missing_ok=True)
            if not self._try_create():
                return False
        self.note = (
            f"{self.out}: took over a stale lock of pid {owner['pid']} on {owner['host']} "
            f"(started {owner.get('started')}; no longer running)"
        )
        return True

    def acquire(self) -> None:
        key = self._key()
        if _HELD.get(key):
            _HELD[key] += 1
            return
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            while True:
                if self._try_create():
                    break
                owner = self._read()
                if owner is None:
                    continue  # released between our two calls
                if self._take_over_if_stale(owner):
                    break
                if not self.wait:
                    raise UserError(
                        f"another xstilts run is using this directory (pid {owner.get('pid')} on {owner.get('host')}, "
                        f"since {owner.get('started')}); wait for it with --wait, or delete {self.path} if that run "
                        "is gone",
                        path=str(self.out),
                    )
                time.sleep(self.poll)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS):
                raise _disk_error(self.out, e) from None
            raise
        _HELD[key] = 1

    def _key(self) -> str:
        return os.path.realpath(self.path)

    def release(self) -> None:
        key = self._key()
        _HELD[key] = _HELD.get(key, 1) - 1
        if _HELD[key] > 0:
            return
        del _HELD[key]
        owner = self._read()
        if owner and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
