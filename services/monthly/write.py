"""Write the monthly report: HTML always (a temporary file when only a PDF is wanted), PDF through Chromium."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pipelines.store.client import Store
from schemas.agreement import Agreement
from services.errors import UsageError
from services.monthly.browser import find_chromium, print_pdf
from services.monthly.data import collect
from services.monthly.render import render_html


def write_monthly(
    store: Store,
    report: dict[str, Any],
    agreements: Sequence[Agreement],
    window: tuple[date, date],
    now: datetime,
    html: Path | None,
    pdf: Path | None,
) -> dict[str, str]:
    """Render the report of `window` to `html` and/or `pdf`; return what was written."""
    for target in (html, pdf):
        if target is not None and not target.parent.is_dir():
            raise UsageError(f"{target}: no such folder {target.parent}")
    if pdf is not None:
        find_chromium()  # fail before the work, not after it
    page = render_html(collect(store, report, agreements, *window), now)
    written: dict[str, str] = {}
    if html is not None:
        html.write_text(page, encoding="utf-8")
        written["html"] = str(html)
    if pdf is not None:
        with tempfile.TemporaryDirectory(prefix="leadflow-report-") as folder:
            source = html if html is not None else Path(folder) / "report.html"
            if html is None:
                source.write_text(page, encoding="utf-8")
            written["pdf"] = str(print_pdf(source, pdf))
    return written
