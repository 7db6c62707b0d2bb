"""deploy/local/test-deps.sh, which `make test` and `.ci/run` both call: each branch, run with a PATH of fakes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "local" / "test-deps.sh"
BASH = shutil.which("bash") or "/bin/bash"
PACKAGES = ("make", "python3-venv", "chromium", "prometheus", "prometheus-alertmanager")


def _fake(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!{BASH}\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH with no real tools at all: only the fakes a test puts there."""
    folder = tmp_path / "bin"
    folder.mkdir()
    _fake(folder, "python-without-venv", "exit 1")
    return folder


def _run(bin_dir: Path, uid: int) -> subprocess.CompletedProcess[str]:
    _fake(bin_dir, "id", f'[ "$1" = "-u" ] && echo {uid}')
    env = {"PATH": str(bin_dir), "PYTHON": str(bin_dir / "python-without-venv")}
    return subprocess.run([BASH, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)


def test_not_root_names_every_missing_package_on_one_line_and_fails(bin_dir: Path) -> None:
    _fake(bin_dir, "apt-get", f"touch {bin_dir / 'apt-get-ran'}")
    done = _run(bin_dir, uid=1000)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert all(package in lines[0] for package in PACKAGES), lines[0]
    assert not (bin_dir / "apt-get-ran").exists()


def test_root_without_apt_get_fails_the_same_way(bin_dir: Path) -> None:
    done = _run(bin_dir, uid=0)
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1
    assert "apt-get install make python3-venv chromium prometheus prometheus-alertmanager" in done.stderr


def test_root_with_apt_get_installs_only_what_is_missing(bin_dir: Path) -> None:
    calls = bin_dir / "apt-get-calls"
    _fake(bin_dir, "apt-get", f'echo "$*" >> {calls}')
    _fake(bin_dir, "make", "exit 0")
    _fake(bin_dir, "amtool", "exit 0")
    done = _run(bin_dir, uid=0)
    assert done.returncode == 0, done.stderr
    update, install = calls.read_text().splitlines()
    assert update.startswith("update")
    assert install.split()[-3:] == ["python3-venv", "chromium", "prometheus"]
    assert "install" in install.split()
    assert "make" not in install.split()
    assert "prometheus-alertmanager" not in install.split()


def test_nothing_missing_does_nothing(bin_dir: Path) -> None:
    for tool in ("make", "chromium", "promtool", "amtool"):
        _fake(bin_dir, tool, "exit 0")
    _fake(bin_dir, "python-without-venv", "exit 0")  # now a python that has venv and ensurepip
    _fake(bin_dir, "apt-get", f"touch {bin_dir / 'apt-get-ran'}")
    done = _run(bin_dir, uid=1000)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert not (bin_dir / "apt-get-ran").exists()


@pytest.mark.parametrize("caller", [".ci/run", "Makefile"])
def test_make_test_and_ci_call_the_same_script(caller: str) -> None:
    text = (REPO / caller).read_text()
    assert "deploy/local/test-deps.sh" in text
    assert "apt-get" not in text  # the one list of packages is the script's


def test_make_test_checks_the_packages_before_anything_slow() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test: test-deps venv ", makefile, re.MULTILINE)
