"""Loading agreement files: every error names the file, the field and what is wrong."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import yaml
from pydantic import ValidationError

from schemas.agreement import Agreement


class AgreementError(Exception):
    """An agreement file that cannot be used."""


def load_agreement(path: Path) -> Agreement:
    """Load and validate one agreement file."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AgreementError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None
    try:
        return Agreement.model_validate(document)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            field = ".".join(str(p) for p in err["loc"]) or "(file)"
            problems.append(f"{path}: {field}: {err['msg']}")
        raise AgreementError("\n".join(problems)) from None


def load_agreements(folder: Path) -> list[Agreement]:
    """Load every *.yaml / *.yml agreement in a folder, ordered by `effective_from`; a missing folder has none."""
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise AgreementError(f"{folder}: LEADFLOW_AGREEMENTS must be a directory")
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    return sorted((load_agreement(f) for f in files), key=lambda a: a.effective_from)


def in_force(agreements: Sequence[Agreement], day: date) -> Agreement | None:
    """Return the agreement in force on a (local) day, if any."""
    return next((a for a in agreements if a.in_force_on(day)), None)
