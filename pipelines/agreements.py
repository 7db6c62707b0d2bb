"""Loading agreement files: every error names the file, the field and what is wrong."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
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
    except UnicodeDecodeError as exc:
        raise AgreementError(f"{path}: cannot read: not UTF-8 (byte {exc.start}: {exc.reason})") from None
    try:
        return Agreement.model_validate(document)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            field = ".".join(str(p) for p in err["loc"]) or "(file)"
            problems.append(f"{path}: {field}: {err['msg']}")
        raise AgreementError("\n".join(problems)) from None


def agreement_files(folder: Path) -> list[Path]:
    """Return the agreement files of a folder (*.yaml, *.yml), sorted by name."""
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def load_agreements(folder: Path) -> list[Agreement]:
    """Load every agreement in a folder, ordered by `effective_from`; overlapping periods are refused."""
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise AgreementError(f"{folder}: LEADFLOW_AGREEMENTS must be a directory")
    loaded = [(f, load_agreement(f)) for f in agreement_files(folder)]
    overlaps = [p for p in period_problems(loaded) if p.kind == "overlap"]
    if overlaps:
        raise AgreementError("; ".join(p.message for p in overlaps))
    return sorted((a for _, a in loaded), key=lambda a: a.effective_from)


@dataclass(frozen=True)
class PeriodProblem:
    """Two agreements whose periods overlap (an error: which one judges?) or leave a gap (a warning)."""

    kind: str
    message: str


def period_problems(agreements: Sequence[tuple[Path, Agreement]]) -> list[PeriodProblem]:
    """Report every pair of agreements in force on the same days, days no agreement covers, and reused names."""
    ordered = sorted(agreements, key=lambda pair: (pair[1].effective_from, pair[1].effective_to))
    problems = _duplicate_names(ordered)
    for i, (path_a, a) in enumerate(ordered):
        for path_b, b in ordered[i + 1 :]:
            if b.effective_from < a.effective_to:
                until = min(a.effective_to, b.effective_to)
                problems.append(
                    PeriodProblem(
                        "overlap",
                        f"{path_a} ({a.name}) and {path_b} ({b.name}) are both in force from "
                        f"{b.effective_from} to {until}",
                    )
                )
    return problems + _gaps(ordered)


def _duplicate_names(ordered: Sequence[tuple[Path, Agreement]]) -> list[PeriodProblem]:
    by_name: dict[str, list[str]] = {}
    for path, agreement in ordered:
        by_name.setdefault(agreement.name, []).append(str(path))
    return [
        PeriodProblem("overlap", f"agreement name {name!r} is used by {', '.join(paths)}")
        for name, paths in sorted(by_name.items())
        if len(paths) > 1
    ]


def _gaps(ordered: Sequence[tuple[Path, Agreement]]) -> list[PeriodProblem]:
    problems: list[PeriodProblem] = []
    if not ordered:
        return problems
    covered_path, covered_to = ordered[0][0], ordered[0][1].effective_to
    for path, agreement in ordered[1:]:
        if agreement.effective_from > covered_to:
            problems.append(
                PeriodProblem(
                    "gap",
                    f"no agreement is in force from {covered_to} ({covered_path} ends) to "
                    f"{agreement.effective_from} ({path} starts)",
                )
            )
        if agreement.effective_to > covered_to:
            covered_path, covered_to = path, agreement.effective_to
    return problems


def in_force(agreements: Sequence[Agreement], day: date) -> Agreement | None:
    """Return the agreement in force on a (local) day, if any."""
    return next((a for a in agreements if a.in_force_on(day)), None)


def fingerprint(folder: Path) -> str:
    """Return a short hash of the agreement files' names and contents: equal on every worker of a group."""
    digest = hashlib.sha256()
    for path in agreement_files(folder) if folder.is_dir() else []:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]
