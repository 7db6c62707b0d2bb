"""LEADFLOW_COLLECTOR_* settings and the files they name: defaults, and one clear line per bad value."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipelines.settings import ConfigError
from services.collector.keys import hash_key
from services.collector.settings import load_collector_config, load_collector_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("LEADFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def one_line_error(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_collector_config()
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_defaults() -> None:
    settings = load_collector_settings()
    assert (settings.host, settings.port, settings.max_body_bytes, settings.max_batch) == (
        "127.0.0.1",
        8088,
        1_048_576,
        500,
    )
    assert settings.hubspot_client_secret is None and settings.hubspot_currency == "EUR"


def test_flags_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_COLLECTOR_PORT", "9000")
    assert load_collector_settings(port=9100, host=None).port == 9100


def test_keys_file_is_loaded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"website:\n  key_sha256: {hash_key('k' * 30)}\n  browser: true\n")
    monkeypatch.setenv("LEADFLOW_COLLECTOR_KEYS_FILE", str(keys))
    monkeypatch.setenv("LEADFLOW_TOPIC_PREFIX", "x.")
    config = load_collector_config()
    assert [c.name for c in config.keys.clients] == ["website"] and config.names.prefix == "x."


@pytest.mark.parametrize(
    ("variables", "start"),
    [
        ({}, "LEADFLOW_COLLECTOR_KEYS_FILE: not set, and no LEADFLOW_COLLECTOR_HUBSPOT_CLIENT_SECRET either"),
        ({"LEADFLOW_COLLECTOR_PORT": "0"}, "LEADFLOW_COLLECTOR_PORT: Input should be greater than or equal to 1"),
        ({"LEADFLOW_COLLECTOR_MAX_BATCH": "many"}, "LEADFLOW_COLLECTOR_MAX_BATCH: Input should be a valid integer"),
        ({"LEADFLOW_COLLECTOR_PUBLIC_URL": "collector.example.com"}, "LEADFLOW_COLLECTOR_PUBLIC_URL: Value error"),
        ({"LEADFLOW_COLLECTOR_HUBSPOT_CURRENCY": "euro"}, "LEADFLOW_COLLECTOR_HUBSPOT_CURRENCY: String should match"),
        ({"LEADFLOW_COLLECTOR_KEYS_FILE": "missing.yaml"}, "LEADFLOW_COLLECTOR_KEYS_FILE: cannot read missing.yaml"),
        ({"LEADFLOW_KAFKA_BOOTSTRAP": "nope"}, "LEADFLOW_KAFKA_BOOTSTRAP: Value error"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], start: str) -> None:
    assert one_line_error(monkeypatch, **variables).startswith(start)


def test_bad_files_name_the_entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("website:\n  key_sha256: short\n")
    line = one_line_error(monkeypatch, LEADFLOW_COLLECTOR_KEYS_FILE=str(keys))
    assert line.startswith(f"LEADFLOW_COLLECTOR_KEYS_FILE: {keys}: website.key_sha256: String should match pattern")
    monkeypatch.delenv("LEADFLOW_COLLECTOR_KEYS_FILE")
    stages = tmp_path / "stages.yaml"
    stages.write_text("lifecyclestage: {'123': hot}\n")
    line = one_line_error(
        monkeypatch, LEADFLOW_COLLECTOR_HUBSPOT_CLIENT_SECRET="s", LEADFLOW_COLLECTOR_HUBSPOT_STAGE_MAP=str(stages)
    )
    assert line.startswith(f"LEADFLOW_COLLECTOR_HUBSPOT_STAGE_MAP: {stages}: lifecyclestage.123: 'hot' is not one of")
    monkeypatch.delenv("LEADFLOW_COLLECTOR_HUBSPOT_STAGE_MAP")
    broken = tmp_path / "deals.yaml"
    broken.write_text("{unclosed")
    line = one_line_error(monkeypatch, LEADFLOW_COLLECTOR_HUBSPOT_DEALS_FILE=str(broken))
    assert line.startswith(f"LEADFLOW_COLLECTOR_HUBSPOT_DEALS_FILE: {broken} is not YAML/JSON")


def test_limits_and_proxies_are_checked_at_start_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = load_collector_settings()
    assert (settings.rate_limit, settings.failure_limit, settings.read_timeout) == ("100/second", "20/minute", 10.0)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"crm": {"key_sha256": hash_key("k" * 30)}}))
    base = {"LEADFLOW_COLLECTOR_KEYS_FILE": str(keys)}
    assert one_line_error(monkeypatch, **base, LEADFLOW_COLLECTOR_RATE_LIMIT="lots").startswith(
        "LEADFLOW_COLLECTOR_RATE_LIMIT: Value error, expected a rate such as 100/second"
    )
    monkeypatch.delenv("LEADFLOW_COLLECTOR_RATE_LIMIT")
    assert one_line_error(monkeypatch, LEADFLOW_COLLECTOR_TRUSTED_PROXIES="10.0.0.1,proxy.local").startswith(
        "LEADFLOW_COLLECTOR_TRUSTED_PROXIES: Value error, 'proxy.local' does not appear to be an IPv4 or IPv6 network"
    )
    monkeypatch.delenv("LEADFLOW_COLLECTOR_TRUSTED_PROXIES")
    keys.write_text(json.dumps({"crm": {"key_sha256": hash_key("k" * 30), "rate_limit": "often"}}))
    assert "crm.rate_limit: Value error, expected a rate" in one_line_error(monkeypatch)


def test_a_key_file_that_is_not_utf8_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_bytes(b"crm: \xff\xfe\n")
    assert one_line_error(monkeypatch, LEADFLOW_COLLECTOR_KEYS_FILE=str(keys)) == (
        f"LEADFLOW_COLLECTOR_KEYS_FILE: {keys} is not UTF-8 (byte 5: invalid start byte)"
    )
