"""Loading agreement files: every error names the file, the field and what is wrong."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from pipelines.core.sla import Judge
from schemas.agreement import Agreement
from schemas.owners import OwnersFile

M = TypeVar("M", bound=BaseModel)


class AgreementError(Exception):
    """An agreement file that cannot be used."""


def load_model(path: Path, model: type[M]) -> M:
    """Load and validate one YAML configuration file; every error names the file, the field and the reason."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AgreementError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None
    except UnicodeDecodeError as exc:
        raise AgreementError(f"{path}: cannot read: not UTF-8 (byte {exc.start}: {exc.reason})") from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            field = ".".join(str(p) for p in err["loc"]) or "(file)"
            problems.append(f"{path}: {field}: {err['msg']}")
        raise AgreementError("\n".join(problems)) from None


def load_agreement(path: Path) -> Agreement:
    """Load and validate one agreement file."""
    return load_model(path, Agreement)


def load_owners(path: Path) -> OwnersFile | None:
    """Load the owners file; None when there is none (every clock counts its agreement's hours)."""
    if not path.exists():
        return None
    return load_model(path, OwnersFile)


def load_judge(agreements: Path, owners: Path) -> Judge:
    """Load the agreements of a folder and the owners file (if there is one) into the judge of every clock."""
    return Judge(load_agreements(agreements), load_owners(owners))


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


def fingerprint(folder: Path, owners: Path | None = None) -> str:
    """Return a short hash of the agreement files and the owners file: equal on every worker of a group."""
    digest = hashlib.sha256()
    for path in agreement_files(folder) if folder.is_dir() else []:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    if owners is not None and owners.is_file():
        digest.update(b"owners\0" + owners.read_bytes() + b"\0")
    return digest.hexdigest()[:12]
