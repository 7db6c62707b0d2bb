"""The owner file of an embedded store: which process holds the chDB path, where it answers, and its token.

chDB allows one process per data path. The process that opens it (a `leadflow store serve` or a worker) writes
`PATH.worker.json` with its PID, web address and the token its store pages ask for; every other leadflow process
sends its queries and inserts there. The file is written with mode 0600 and read only when this user owns it and
no one else may write it: otherwise anyone on the machine could point this user's reports at a server of theirs.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from pipelines.store.exceptions import OwnerNotTrusted

STORE_SERVICE = "store"
WORKER = "worker"


@dataclass(frozen=True)
class Owner:
    """The process that holds an embedded store."""

    pid: int
    url: str
    kind: str = WORKER
    token: str | None = None  # None when every process takes it from LEADFLOW_STORE_TOKEN

    def describe(self) -> str:
        """Say who holds the store, for error messages."""
        who = "a `leadflow store serve`" if self.kind == STORE_SERVICE else "a running worker"
        return f"{who} (PID {self.pid}, {self.url})"


def owner_file(path: Path) -> Path:
    """Return the file where the process holding an embedded store says where it answers."""
    return path.with_name(path.name + ".worker.json")


def new_token() -> str:
    """Return a fresh token for the store pages (256 random bits)."""
    return secrets.token_urlsafe(32)


def holder_token(configured: SecretStr | None) -> tuple[str, str | None]:
    """Return the token a holder's pages ask for, and the token its owner file names (None for a configured one)."""
    if configured is not None:
        return configured.get_secret_value(), None
    token = new_token()
    return token, token


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def _trusted_text(file: Path) -> str:
    """Return the file's text if this user owns it and only this user may write it; OwnerNotTrusted otherwise."""
    try:
        descriptor = os.open(file, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OwnerNotTrusted(f"{file} is a symbolic link: not used") from None
        raise
    with os.fdopen(descriptor, encoding="utf-8") as handle:
        status = os.fstat(handle.fileno())
        if status.st_uid != os.getuid():
            raise OwnerNotTrusted(f"{file} belongs to user id {status.st_uid}, not this user ({os.getuid()}): not used")
        if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            mode = stat.filemode(status.st_mode)
            raise OwnerNotTrusted(f"{file} may be written by other users (mode {mode}): not used")
        return handle.read()


def read_owner(path: Path) -> Owner | None:
    """Return the owner named in the owner file, None when there is none; OwnerNotTrusted for a foreign file."""
    file = owner_file(path)
    try:
        data = json.loads(_trusted_text(file))
        token = data.get("token")
        kind = str(data.get("kind", WORKER))
        return Owner(int(data["pid"]), str(data["url"]), kind, None if token is None else str(token))
    except OwnerNotTrusted:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def live_owner(path: Path) -> Owner | None:
    """Return the owner of an embedded store if its process is alive (a crash leaves a stale file behind)."""
    owner = read_owner(path)
    return owner if owner is not None and _alive(owner.pid) else None


def write_owner(path: Path, url: str, kind: str, token: str | None) -> Owner:
    """Say that this process holds the store at `path` and answers at `url` (replacing the file atomically).

    `token` is written only when it was generated here; a token from LEADFLOW_STORE_TOKEN stays out of files.
    """
    owner = Owner(os.getpid(), url, kind, token)
    target = owner_file(path)
    partial = target.with_name(f"{target.name}.{owner.pid}.tmp")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"pid": owner.pid, "url": url, "kind": kind, "token": token}, handle)
    os.replace(partial, target)
    return owner


def remove_owner(path: Path) -> None:
    """Remove the owner file if it still names this process."""
    try:
        owner = read_owner(path)
    except OwnerNotTrusted:
        return
    if owner is not None and owner.pid == os.getpid():
        owner_file(path).unlink(missing_ok=True)
