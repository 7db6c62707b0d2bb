"""Agreement files (contract §3): the committed one loads; every error names the file, the field, the reason."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from pipelines.agreements import AgreementError, in_force, load_agreement, load_agreements

AGREEMENTS = Path(__file__).resolve().parents[2] / "agreements"
COMMITTED = AGREEMENTS / "2026-H2.yaml"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded = yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def write(folder: Path, document: dict[str, Any], name: str = "agreement.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(AgreementError) as caught:
        load_agreement(path)
    return str(caught.value)


def test_the_committed_agreement_loads() -> None:
    agreement = load_agreement(COMMITTED)
    assert agreement.name == "2026-H2"
    assert (agreement.effective_from, agreement.effective_to) == (date(2026, 7, 1), date(2027, 1, 1))
    assert agreement.zone == ZoneInfo("Europe/Berlin")
    assert agreement.business_hours.days == ("mon", "tue", "wed", "thu", "fri")
    assert (agreement.business_hours.start, agreement.business_hours.end) == (time(9), time(17))
    assert agreement.holidays == (date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26))
    goals = agreement.goals
    assert (goals.revenue, goals.currency, goals.average_deal_size) == (Decimal(1200000), "EUR", Decimal(20000))
    assert goals.rates.visit_to_lead == 0.02 and goals.rates.opportunity_to_customer == 0.25
    mql, sql = agreement.handoffs
    assert (mql.name, mql.starts_on.stage, mql.within, mql.warn_at) == ("mql_follow_up", "mql", "4h", 0.75)
    assert mql.stops_on.human_activity is True
    assert mql.stops_on.stages == ("sal", "sql", "opportunity", "customer", "recycled", "disqualified")
    assert (sql.name, sql.starts_on.stage, sql.within, sql.warn_at) == ("sql_to_opportunity", "sql", "5d", None)
    assert sql.stops_on.human_activity is False


def test_conversion_alerts_default_and_can_be_set(tmp_path: Path, document: dict[str, Any]) -> None:
    assert load_agreement(COMMITTED).conversion_alerts.model_dump() == {"window_days": 90, "min_sample": 30}
    changed = {**document, "conversion_alerts": {"window_days": 28, "min_sample": 100}}
    alerts = load_agreement(write(tmp_path, changed)).conversion_alerts
    assert (alerts.window_days, alerts.min_sample) == (28, 100)


LAGS = {"visit_to_lead": 0, "lead_to_mql": 3.5, "mql_to_sql": 7, "sql_to_opportunity": 10,
        "opportunity_to_customer": 30}  # fmt: skip


def test_lags_are_optional_and_read_as_the_decimals_written(tmp_path: Path, document: dict[str, Any]) -> None:
    assert load_agreement(COMMITTED).goals.lags is None
    changed = copy.deepcopy(document)
    changed["goals"]["lags"] = {**LAGS, "lead_to_mql": 0.1}
    lags = load_agreement(write(tmp_path, changed)).goals.lags
    assert lags is not None and (lags.lead_to_mql, lags.opportunity_to_customer) == (Decimal("0.1"), Decimal(30))


def test_the_committed_folder_loads() -> None:
    agreements = load_agreements(AGREEMENTS)
    assert [a.name for a in agreements] == ["2026-H2"]
    assert in_force(agreements, date(2026, 7, 1)) is agreements[0]
    assert in_force(agreements, date(2026, 12, 31)) is agreements[0]
    assert in_force(agreements, date(2027, 1, 1)) is None
    assert in_force(agreements, date(2026, 6, 30)) is None


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Return a change setting a dotted path (list indexes as numbers) of the document."""

    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return change


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        del node[last]

    return change


BAD_FIELDS = [
    ("goals.rates.lead_to_mql", _set("goals.rates.lead_to_mql", 1.5), "less than or equal to 1"),
    ("goals.rates.mql_to_sql", _set("goals.rates.mql_to_sql", 0), "greater than 0"),
    ("goals.rates.visit_to_lead", _delete("goals.rates.visit_to_lead"), "Field required"),
    ("goals.revenue", _set("goals.revenue", -5), "greater than 0"),
    ("goals.currency", _set("goals.currency", "euro"), "pattern"),
    ("timezone", _set("timezone", "Europe/Atlantis"), "unknown time zone"),
    ("timezone", _set("timezone", "../etc/passwd"), "unknown time zone"),
    ("handoffs.0.within", _set("handoffs.0.within", "4 hours"), "business duration"),
    ("handoffs.1.within", _set("handoffs.1.within", "0d"), "business duration"),
    ("handoffs.0.within", _set("handoffs.0.within", "2w"), "business duration"),
    ("handoffs.0.warn_at", _set("handoffs.0.warn_at", 1), "less than 1"),
    ("handoffs.0.escalate.0.after", _set("handoffs.0.escalate", [{"after": "1 hour", "to": "manager"}]), "duration"),
    ("handoffs.0.escalate.0.to", _set("handoffs.0.escalate", [{"after": "1h", "to": "ceo"}]), "Input should be"),
    (
        "handoffs.0.escalate",
        _set("handoffs.0.escalate", [{"after": "2h", "to": "manager"}, {"after": "1h", "to": "reassign"}]),
        "increase",
    ),
    ("handoffs.1.escalate", _set("handoffs.1.escalate", [{"after": "1d", "to": "reassign"}] * 2), "once"),
    ("handoffs.0.starts_on.stage", _set("handoffs.0.starts_on.stage", "prospect"), "Input should be"),
    ("handoffs.1.stops_on", _set("handoffs.1.stops_on", {}), "human_activity"),
    ("business_hours.days.0", _set("business_hours.days.0", "monday"), "Input should be"),
    ("business_hours", _set("business_hours.end", "08:00"), "end must be after start"),
    ("holidays.0", _set("holidays.0", "Christmas"), "date"),
    ("escalation", _set("escalation", {"to": "ceo"}), "Extra inputs are not permitted"),
    ("goals.stretch", _set("goals.stretch", 2), "Extra inputs are not permitted"),
    ("handoffs.0.owner", _set("handoffs.0.owner", "x"), "Extra inputs are not permitted"),
    ("name", _delete("name"), "Field required"),
    ("conversion_alerts.window_days", _set("conversion_alerts", {"window_days": 0}), "greater than or equal to 1"),
    ("conversion_alerts.min_sample", _set("conversion_alerts", {"min_sample": "many"}), "valid integer"),
    ("conversion_alerts.window", _set("conversion_alerts", {"window": "90d"}), "Extra inputs are not permitted"),
    ("goals.lags.mql_to_sql", _set("goals.lags", {**LAGS, "mql_to_sql": -1}), "greater than or equal to 0"),
    ("goals.lags.lead_to_mql", _set("goals.lags", {**LAGS, "lead_to_mql": 4000}), "less than or equal to 3650"),
    ("goals.lags.visit_to_lead", _set("goals.lags", {**LAGS, "visit_to_lead": 0.0001}), "decimal places"),
    ("goals.lags.sql_to_opportunity", _set("goals.lags", {**LAGS, "sql_to_opportunity": "soon"}), "decimal"),
    ("goals.lags.opportunity_to_customer", _set("goals.lags", {"visit_to_lead": 1}), "Field required"),
    ("goals.lags.mql_to_sal", _set("goals.lags", {**LAGS, "mql_to_sal": 2}), "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("field", "change", "reason"), BAD_FIELDS, ids=[f"{f}-{r}" for f, _, r in BAD_FIELDS])
def test_a_bad_field_is_named_with_the_file_and_the_reason(
    tmp_path: Path,
    document: dict[str, Any],
    field: str,
    change: Callable[[dict[str, Any]], None],
    reason: str,
) -> None:
    broken = copy.deepcopy(document)
    change(broken)
    path = write(tmp_path, broken)
    message = error_of(path)
    line = next((ln for ln in message.splitlines() if f": {field}:" in ln), None)
    assert line is not None, message
    assert line.startswith(f"{path}: ")
    assert reason in line


def test_effective_to_before_effective_from(tmp_path: Path, document: dict[str, Any]) -> None:
    broken = copy.deepcopy(document) | {"effective_from": date(2027, 1, 1), "effective_to": date(2026, 7, 1)}
    message = error_of(write(tmp_path, broken))
    assert str(tmp_path / "agreement.yaml") in message
    assert "effective_to must be after effective_from" in message


def test_an_agreement_ending_the_day_it_starts_is_rejected(tmp_path: Path, document: dict[str, Any]) -> None:
    broken = copy.deepcopy(document) | {"effective_to": document["effective_from"]}
    assert "effective_to" in error_of(write(tmp_path, broken))


def test_repeated_handoff_names_are_rejected(tmp_path: Path, document: dict[str, Any]) -> None:
    broken = copy.deepcopy(document)
    broken["handoffs"][1]["name"] = broken["handoffs"][0]["name"]
    assert "handoff names must be unique" in error_of(write(tmp_path, broken))


def test_every_problem_is_reported_one_per_line(tmp_path: Path, document: dict[str, Any]) -> None:
    broken = copy.deepcopy(document) | {"timezone": "Mars/Olympus", "surprise": 1}
    broken["goals"]["rates"]["lead_to_mql"] = 2
    lines = error_of(write(tmp_path, broken)).splitlines()
    assert len(lines) == 3
    assert all(line.startswith(str(tmp_path / "agreement.yaml")) for line in lines)


def test_a_file_that_is_not_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    message = error_of(path)
    assert message.startswith(f"{path}: cannot read")
    assert "\n" not in message


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    assert error_of(tmp_path / "nowhere.yaml").startswith(f"{tmp_path / 'nowhere.yaml'}: cannot read")


@pytest.mark.parametrize("text", ["", "- a list\n", "just text\n"])
def test_a_document_that_is_not_a_mapping_names_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    assert error_of(path).startswith(f"{path}: ")


def test_a_missing_folder_has_no_agreements(tmp_path: Path) -> None:
    assert load_agreements(tmp_path / "absent") == []


def test_an_empty_folder_has_no_agreements(tmp_path: Path) -> None:
    assert load_agreements(tmp_path) == []


def test_a_file_instead_of_a_folder_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("x: 1\n", encoding="utf-8")
    with pytest.raises(AgreementError, match="must be a directory"):
        load_agreements(path)


def test_a_folder_loads_yaml_and_yml_files_ordered_by_start(tmp_path: Path, document: dict[str, Any]) -> None:
    later = copy.deepcopy(document) | {
        "name": "2027-H1",
        "effective_from": date(2027, 1, 1),
        "effective_to": date(2027, 7, 1),
    }
    write(tmp_path, later, "a-later.yml")
    write(tmp_path, document, "b-earlier.yaml")
    (tmp_path / "notes.txt").write_text("not an agreement", encoding="utf-8")
    agreements = load_agreements(tmp_path)
    assert [a.name for a in agreements] == ["2026-H2", "2027-H1"]
    assert in_force(agreements, date(2027, 1, 1)) is agreements[1]


def test_one_bad_file_in_a_folder_is_an_error_naming_it(tmp_path: Path, document: dict[str, Any]) -> None:
    write(tmp_path, document, "good.yaml")
    bad = write(tmp_path, copy.deepcopy(document) | {"timezone": "Nowhere/Town"}, "bad.yaml")
    with pytest.raises(AgreementError, match=r"bad\.yaml: timezone"):
        load_agreements(tmp_path)
    assert bad.exists()
