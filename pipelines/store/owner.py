"""The owner file of an embedded store: which process holds the chDB path, and where it answers.

chDB allows one process per data path. The process that opens it (a `leadflow store serve` or a worker) writes
`PATH.worker.json` with its PID and web address; every other leadflow process sends its queries and inserts there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

STORE_SERVICE = "store"
WORKER = "worker"


@dataclass(frozen=True)
class Owner:
    """The process that holds an embedded store."""

    pid: int
    url: str
    kind: str = WORKER

    def describe(self) -> str:
        """Say who holds the store, for error messages."""
        who = "a `leadflow store serve`" if self.kind == STORE_SERVICE else "a running worker"
        return f"{who} (PID {self.pid}, {self.url})"


def owner_file(path: Path) -> Path:
    """Return the file where the process holding an embedded store says where it answers."""
    return path.with_name(path.name + ".worker.json")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def read_owner(path: Path) -> Owner | None:
    """Return the owner named in the owner file, or None when there is no readable file."""
    try:
        data = json.loads(owner_file(path).read_text(encoding="utf-8"))
        return Owner(int(data["pid"]), str(data["url"]), str(data.get("kind", WORKER)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def live_owner(path: Path) -> Owner | None:
    """Return the owner of an embedded store if its process is alive (a crash leaves a stale file behind)."""
    owner = read_owner(path)
    return owner if owner is not None and _alive(owner.pid) else None


def write_owner(path: Path, url: str, kind: str) -> Owner:
    """Say that this process holds the store at `path` and answers at `url` (replacing the file atomically)."""
    owner = Owner(os.getpid(), url, kind)
    target = owner_file(path)
    partial = target.with_name(f"{target.name}.{owner.pid}.tmp")
    partial.write_text(json.dumps({"pid": owner.pid, "url": url, "kind": kind}), encoding="utf-8")
    os.replace(partial, target)
    return owner


def remove_owner(path: Path) -> None:
    """Remove the owner file if it still names this process."""
    owner = read_owner(path)
    if owner is not None and owner.pid == os.getpid():
        owner_file(path).unlink(missing_ok=True)
