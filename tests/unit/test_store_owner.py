"""The owner file: written for this user alone, with the token; read only when no one else could have written it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from pipelines.settings import Settings
from pipelines.store.client import open_store
from pipelines.store.exceptions import OwnerNotTrusted, StoreError
from pipelines.store.owner import STORE_SERVICE, holder_token, owner_file, read_owner, remove_owner, write_owner

URL = "http://127.0.0.1:6070"


def test_the_owner_file_is_written_for_this_user_alone_with_its_token(tmp_path: Path) -> None:
    path = tmp_path / "chdb"
    old = os.umask(0)  # even with an umask that lets everyone write, the file is 0600
    try:
        write_owner(path, URL, STORE_SERVICE, "secret-token")
    finally:
        os.umask(old)
    assert stat.S_IMODE(owner_file(path).stat().st_mode) == 0o600
    assert json.loads(owner_file(path).read_text())["token"] == "secret-token"
    owner = read_owner(path)
    assert owner is not None and (owner.url, owner.token, owner.pid) == (URL, "secret-token", os.getpid())


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_an_owner_file_others_may_write_is_not_trusted(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "chdb"
    write_owner(path, URL, STORE_SERVICE, "t")
    owner_file(path).chmod(mode)
    with pytest.raises(OwnerNotTrusted, match="may be written by other users"):
        read_owner(path)
    with pytest.raises(StoreError, match="not used"):
        open_store(Settings(store=f"chdb:{path}"))
    remove_owner(path)  # not its own, as far as this process can tell: left alone
    assert owner_file(path).exists()


def test_an_owner_file_of_another_user_is_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "chdb"
    write_owner(path, URL, STORE_SERVICE, "t")
    monkeypatch.setattr(os, "getuid", lambda: owner_file(path).stat().st_uid + 1)  # this process is someone else
    with pytest.raises(OwnerNotTrusted, match="belongs to user id"):
        read_owner(path)


def test_a_symbolic_link_as_owner_file_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "chdb"
    planted = tmp_path / "planted.json"
    planted.write_text(json.dumps({"pid": os.getpid(), "url": "http://198.51.100.7:80", "token": "x"}))
    owner_file(path).symlink_to(planted)
    with pytest.raises(OwnerNotTrusted, match="symbolic link"):
        read_owner(path)


def test_a_holder_writes_a_generated_token_and_keeps_a_configured_one_out_of_the_file() -> None:
    token, written = holder_token(None)
    assert token == written and len(token) >= 43
    assert holder_token(None)[0] != token
    configured = Settings(store_token="c" * 40).store_token
    assert holder_token(configured) == ("c" * 40, None)
