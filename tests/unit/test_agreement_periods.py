"""Effective periods of several agreements (contract §3): overlaps are refused, gaps are warned about."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.agreements import AgreementError, load_agreement, load_agreements, period_problems
from schemas.agreement import Agreement
from services.cli import main

AGREEMENTS = Path(__file__).resolve().parents[2] / "agreements"
COMMITTED = AGREEMENTS / "2026-H2.yaml"
H2 = load_agreement(COMMITTED)


def agreement(name: str, start: date, end: date) -> Agreement:
    """Return the committed agreement under another name and period."""
    return Agreement.model_validate({**H2.model_dump(), "name": name, "effective_from": start, "effective_to": end})


def write(folder: Path, item: Agreement, filename: str | None = None) -> Path:
    path = folder / (filename or f"{item.name}.yaml")
    document: dict[str, Any] = item.model_dump(mode="json")
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def kinds(problems: list[Any]) -> list[str]:
    return [p.kind for p in problems]


H1_2027 = agreement("2027-H1", date(2027, 1, 1), date(2027, 7, 1))
OVERLAPPING = agreement("2026-Q4", date(2026, 10, 1), date(2027, 4, 1))
LATE_2027 = agreement("2027-H1-late", date(2027, 2, 1), date(2027, 7, 1))


def test_back_to_back_periods_have_no_problem() -> None:
    assert period_problems([(Path("a.yaml"), H2), (Path("b.yaml"), H1_2027)]) == []
    assert period_problems([(Path("b.yaml"), H1_2027), (Path("a.yaml"), H2)]) == []
    assert period_problems([(COMMITTED, H2)]) == []
    assert period_problems([]) == []


def test_an_overlap_names_both_files_both_agreements_and_the_shared_dates() -> None:
    problems = period_problems([(Path("h2.yaml"), H2), (Path("q4.yaml"), OVERLAPPING)])
    assert kinds(problems) == ["overlap"]
    message = problems[0].message
    for part in ("h2.yaml", "q4.yaml", "2026-H2", "2026-Q4"):
        assert part in message
    # both in force on [2026-10-01, 2027-01-01)
    assert "from 2026-10-01 to 2027-01-01" in message


def test_an_overlap_is_found_in_any_order_of_the_files() -> None:
    forward = period_problems([(Path("h2.yaml"), H2), (Path("q4.yaml"), OVERLAPPING)])
    backward = period_problems([(Path("q4.yaml"), OVERLAPPING), (Path("h2.yaml"), H2)])
    assert forward == backward


def test_a_period_inside_another_overlaps_for_its_whole_length() -> None:
    inner = agreement("2026-11", date(2026, 11, 1), date(2026, 12, 1))
    (problem,) = period_problems([(Path("h2.yaml"), H2), (Path("nov.yaml"), inner)])
    assert problem.kind == "overlap"
    assert "from 2026-11-01 to 2026-12-01" in problem.message


def test_a_gap_names_both_files_and_the_dates_nobody_covers() -> None:
    problems = period_problems([(Path("h2.yaml"), H2), (Path("late.yaml"), LATE_2027)])
    assert kinds(problems) == ["gap"]
    message = problems[0].message
    for part in ("h2.yaml", "late.yaml", "2027-01-01", "2027-02-01"):
        assert part in message
    assert message.index("2027-01-01") < message.index("2027-02-01")


def test_a_duplicate_name_is_reported_as_an_error() -> None:
    twin = agreement("2026-H2", date(2027, 1, 1), date(2027, 7, 1))
    problems = period_problems([(Path("h2.yaml"), H2), (Path("twin.yaml"), twin)])
    assert kinds(problems) == ["overlap"]
    assert "'2026-H2'" in problems[0].message


def test_a_duplicate_name_names_both_files() -> None:
    # The module promises that every error names the file; with two files, the user must learn which two.
    twin = agreement("2026-H2", date(2027, 1, 1), date(2027, 7, 1))
    (problem,) = period_problems([(Path("h2.yaml"), H2), (Path("twin.yaml"), twin)])
    assert "h2.yaml" in problem.message and "twin.yaml" in problem.message, problem.message


def test_the_same_file_twice_is_a_duplicate_name_and_an_overlap() -> None:
    problems = period_problems([(Path("a.yaml"), H2), (Path("b.yaml"), H2)])
    assert sorted(kinds(problems)) == ["overlap", "overlap"]
    assert any("from 2026-07-01 to 2027-01-01" in p.message for p in problems)


def test_a_period_covered_by_an_earlier_long_agreement_is_no_gap() -> None:
    # 2026-2027 covers everything; Mar and May sit inside it. Between them is no gap: the long one is in force.
    long = agreement("long", date(2026, 1, 1), date(2028, 1, 1))
    march = agreement("march", date(2027, 3, 1), date(2027, 4, 1))
    may = agreement("may", date(2027, 5, 1), date(2027, 6, 1))
    problems = period_problems([(Path("long.yaml"), long), (Path("march.yaml"), march), (Path("may.yaml"), may)])
    assert [p.message for p in problems if p.kind == "gap"] == []


def test_every_overlapping_pair_is_reported_not_only_neighbours() -> None:
    long = agreement("long", date(2026, 1, 1), date(2028, 1, 1))
    march = agreement("march", date(2027, 3, 1), date(2027, 4, 1))
    may = agreement("may", date(2027, 5, 1), date(2027, 6, 1))
    problems = period_problems([(Path("long.yaml"), long), (Path("march.yaml"), march), (Path("may.yaml"), may)])
    overlaps = [p.message for p in problems if p.kind == "overlap"]
    assert any("long.yaml" in m and "march.yaml" in m for m in overlaps)
    assert any("long.yaml" in m and "may.yaml" in m for m in overlaps), overlaps


# --- loading a folder ----------------------------------------------------------------------------------------


def test_load_agreements_refuses_overlapping_files(tmp_path: Path) -> None:
    first, second = write(tmp_path, H2), write(tmp_path, OVERLAPPING)
    with pytest.raises(AgreementError) as caught:
        load_agreements(tmp_path)
    message = str(caught.value)
    assert str(first) in message and str(second) in message
    assert "2026-10-01" in message and "2027-01-01" in message


def test_load_agreements_refuses_duplicate_names(tmp_path: Path) -> None:
    write(tmp_path, H2, "a.yaml")
    write(tmp_path, agreement("2026-H2", date(2027, 1, 1), date(2027, 7, 1)), "b.yaml")
    with pytest.raises(AgreementError, match="2026-H2"):
        load_agreements(tmp_path)


def test_load_agreements_accepts_a_gap_and_orders_by_start(tmp_path: Path) -> None:
    write(tmp_path, LATE_2027, "a-late.yaml")
    write(tmp_path, H2, "z-h2.yaml")
    assert [a.name for a in load_agreements(tmp_path)] == ["2026-H2", "2027-H1-late"]


def test_load_agreements_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert load_agreements(tmp_path / "nowhere") == []


# --- `leadflow agreement check` ----------------------------------------------------------------------------


def test_check_passes_on_the_committed_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agreement", "check", str(AGREEMENTS)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{COMMITTED}: ok (2026-H2, 2026-07-01 → 2027-01-01, Europe/Berlin, 2 handoffs)"]
    assert err == ""


def test_check_fails_on_overlapping_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = write(tmp_path, H2), write(tmp_path, OVERLAPPING)
    assert main(["agreement", "check", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert f"{first}: ok (2026-H2," in out and f"{second}: ok (2026-Q4," in out
    (line,) = err.splitlines()
    assert line.startswith("overlap: ")
    assert str(first) in line and str(second) in line and "from 2026-10-01 to 2027-01-01" in line


def test_check_of_files_named_one_by_one_finds_the_overlap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = write(tmp_path, OVERLAPPING), write(tmp_path, H2)
    assert main(["agreement", "check", str(first), str(second)]) == 1
    assert "overlap: " in capsys.readouterr().err


def test_check_warns_about_a_gap_but_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, H2)
    write(tmp_path, LATE_2027)
    assert main(["agreement", "check", str(tmp_path)]) == 0
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("gap: ") and "2027-01-01" in line and "2027-02-01" in line


def test_check_fails_on_an_invalid_file_and_still_checks_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, H2, "a.yaml")
    bad = tmp_path / "b.yaml"
    bad.write_text("name: broken\n", encoding="utf-8")
    assert main(["agreement", "check", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert f"{good}: ok" in out
    assert str(bad) in err and "effective_from" in err


def test_check_reads_the_owners_file_and_names_its_bad_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owners = tmp_path / "owners.yaml"
    owners.write_text(
        "owners:\n  - {id: rep-01, timezone: Europe/Berlin,\n"
        "     working_hours: {days: [mon], start: '13:00', end: '17:00'}}\n"
        "teams:\n  - {name: emea, manager: mgr, members: [rep-01]}\n",
        encoding="utf-8",
    )
    assert main(["agreement", "check", str(AGREEMENTS), "--owners", str(owners)]) == 0
    assert f"{owners}: ok (1 owners, 1 teams)" in capsys.readouterr().out
    owners.write_text("owners:\n  - {id: rep-01, timezone: Europe/Atlantis, working_hours: {days: [mon], "
                      "start: '13:00', end: '17:00'}}\n", encoding="utf-8")  # fmt: skip
    assert main(["agreement", "check", str(AGREEMENTS), "--owners", str(owners)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{owners}: owners.0.timezone: ") and "unknown time zone" in line


def test_check_says_when_owner_clocks_have_no_owners_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = COMMITTED.read_text(encoding="utf-8").replace("    within: 4h\n", "    within: 4h\n    clock: owner\n")
    (tmp_path / "h2.yaml").write_text(text, encoding="utf-8")
    assert main(["agreement", "check", str(tmp_path), "--owners", str(tmp_path / "none.yaml")]) == 0
    assert "2026-H2/mql_follow_up count the agreement's hours" in capsys.readouterr().err
