"""`leadflow schemas export` writes exactly the committed JSON Schemas, and valid events conform to them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.events import EVENT_MODELS, json_schemas
from services.cli import main
from tests.unit.factories import encode, examples, parse

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "json"
FILES = sorted(f"{event_type}.schema.json" for event_type in EVENT_MODELS)


def test_there_is_one_committed_schema_per_event_type() -> None:
    assert sorted(p.name for p in COMMITTED.glob("*.json")) == FILES


def test_export_writes_the_committed_files_byte_for_byte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemas", "export", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == FILES
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (COMMITTED / name).read_bytes(), name
    assert sorted(Path(line).name for line in capsys.readouterr().out.splitlines()) == FILES


def test_export_creates_the_folder_and_is_repeatable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "deep" / "er"
    assert main(["schemas", "export", str(target)]) == 0
    first = {p.name: p.read_bytes() for p in target.iterdir()}
    assert main(["schemas", "export", str(target)]) == 0
    assert {p.name: p.read_bytes() for p in target.iterdir()} == first


@pytest.mark.parametrize("event_type", sorted(EVENT_MODELS))
def test_each_schema_describes_its_type(event_type: str) -> None:
    schema = json_schemas()[f"{event_type}.schema.json"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://leadflow.dev/schemas/{event_type}.schema.json"
    assert set(schema["required"]) == {"specversion", "id", "source", "type", "time", "subject", "data"}
    assert schema["properties"]["type"]["const"] == event_type
    assert schema.get("additionalProperties", True) is not False


def test_committed_files_are_sorted_indented_json_with_a_final_newline() -> None:
    for name in FILES:
        text = (COMMITTED / name).read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_valid_examples_conform_to_their_exported_schema() -> None:
    import jsonschema

    for event_type, example in examples().items():
        parse(encode(example))
        schema = json.loads((COMMITTED / f"{event_type}.schema.json").read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(example)
