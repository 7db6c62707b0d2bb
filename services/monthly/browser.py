"""Headless Chromium (Debian package `chromium`): PDF, screenshots and the rendered DOM of a local HTML file."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from services.errors import UsageError

NAMES = ("chromium", "chromium-browser")
# No network, no first-run work, nothing kept between runs: the page is a local, self-contained file.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
)
TIMEOUT = 120.0


def find_chromium() -> str:
    """Return the Chromium executable, or raise a clear error naming the Debian package."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise UsageError("--pdf needs headless Chromium: install the Debian package `chromium` (apt-get install chromium)")


def run_chromium(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with a fresh profile on a local page; fail clearly when it fails."""
    with tempfile.TemporaryDirectory(prefix="leadflow-chromium-") as profile:
        command = [find_chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise UsageError(f"chromium did not finish within {TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        raise UsageError(f"chromium failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done


def print_pdf(page: Path, pdf: Path) -> Path:
    """Print a local HTML page to PDF (A4, as its print style sheet lays it out)."""
    run_chromium(page, f"--print-to-pdf={pdf.resolve()}", "--no-pdf-header-footer")
    if not pdf.is_file() or pdf.stat().st_size == 0:
        raise UsageError(f"chromium wrote no PDF to {pdf}")
    return pdf


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 4000) -> Path:
    """Take a PNG screenshot of a local HTML page at a window size."""
    run_chromium(page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}")
    if not png.is_file() or png.stat().st_size == 0:
        raise UsageError(f"chromium wrote no screenshot to {png}")
    return png


def rendered_dom(page: Path) -> str:
    """Return the page's DOM after Chromium loaded it and ran its scripts."""
    return run_chromium(page, "--virtual-time-budget=5000", "--dump-dom").stdout
