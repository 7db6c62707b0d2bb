"""The settings object: defaults, LEADFLOW_* variables, and one clear ConfigError line per bad value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.settings import ConfigError, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LEADFLOW_* variable from the outside, and a working directory of our own."""
    for name in list(os.environ):
        if name.startswith("LEADFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def config_error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{name}:"), message
    return message


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.store == "chdb:./data/chdb"
    assert settings.agreements == Path("./agreements")
    assert settings.topic_prefix == ""
    assert (settings.partitions, settings.replication, settings.app_id) == (8, 1, "leadflow")
    assert (settings.web_host, settings.web_port) == ("127.0.0.1", 6066)
    assert settings.state_dir == Path("./data/faust")
    assert (settings.sink_batch_rows, settings.sink_interval, settings.log_level) == (20_000, 1.0, "WARNING")
    assert settings.chdb_path == tmp_path.resolve() / "data" / "chdb"


def test_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEADFLOW_KAFKA_BOOTSTRAP", "k1:9092, k2:9093")
    monkeypatch.setenv("LEADFLOW_STORE", "chdb:/var/lib/leadflow")
    monkeypatch.setenv("LEADFLOW_AGREEMENTS", str(tmp_path / "a"))
    monkeypatch.setenv("LEADFLOW_PARTITIONS", "3")
    monkeypatch.setenv("LEADFLOW_TOPIC_PREFIX", "staging.")
    settings = load_settings()
    assert settings.kafka_bootstrap == "k1:9092, k2:9093"
    assert settings.chdb_path == Path("/var/lib/leadflow")
    assert settings.agreements == tmp_path / "a"
    assert (settings.partitions, settings.topic_prefix) == (3, "staging.")


def test_overrides_win_and_none_means_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_WEB_PORT", "7000")
    assert load_settings(web_port=7001).web_port == 7001
    assert load_settings(web_port=None).web_port == 7000


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.partitions = 2  # type: ignore[misc]


def test_a_server_store_url_is_split_with_a_secret_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_STORE", "https://ana:p%40ss@ch.example.com:9440/leads")
    settings = load_settings()
    assert settings.chdb_path is None
    scheme, host, port, user, password, database = settings.server()
    assert (scheme, host, port, user, database) == ("https", "ch.example.com", 9440, "ana", "leads")
    assert password.get_secret_value() == "p@ss"
    assert "p@ss" not in repr(password)


def test_server_defaults_for_port_user_and_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_STORE", "http://ch.example.com")
    scheme, host, port, user, password, database = load_settings().server()
    assert (scheme, host, port, user, database) == ("http", "ch.example.com", 8123, "default", "default")
    assert password.get_secret_value() == ""


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LEADFLOW_KAFKA_BOOTSTRAP", "localhost"),
        ("LEADFLOW_KAFKA_BOOTSTRAP", "localhost:"),
        ("LEADFLOW_KAFKA_BOOTSTRAP", ":9092"),
        ("LEADFLOW_KAFKA_BOOTSTRAP", "localhost:kafka"),
        ("LEADFLOW_KAFKA_BOOTSTRAP", "k1:9092,"),
        ("LEADFLOW_KAFKA_BOOTSTRAP", ""),
        ("LEADFLOW_STORE", "mysql://u:p@host/db"),
        ("LEADFLOW_STORE", "chdb:"),
        ("LEADFLOW_STORE", "./data/chdb"),
        ("LEADFLOW_STORE", "http://"),
        ("LEADFLOW_STORE", ""),
        ("LEADFLOW_PARTITIONS", "0"),
        ("LEADFLOW_PARTITIONS", "-1"),
        ("LEADFLOW_PARTITIONS", "eight"),
        ("LEADFLOW_PARTITIONS", "1025"),
        ("LEADFLOW_REPLICATION", "0"),
        ("LEADFLOW_APP_ID", ""),
        ("LEADFLOW_APP_ID", "lead flow"),
        ("LEADFLOW_WEB_PORT", "0"),
        ("LEADFLOW_WEB_PORT", "65536"),
        ("LEADFLOW_WEB_PORT", "http"),
        ("LEADFLOW_SINK_BATCH_ROWS", "0"),
        ("LEADFLOW_SINK_INTERVAL", "0"),
        ("LEADFLOW_SINK_INTERVAL", "61"),
        ("LEADFLOW_SINK_INTERVAL", "nan"),
        ("LEADFLOW_LOG_LEVEL", "verbose"),
        ("LEADFLOW_LOG_LEVEL", "debug"),
        ("LEADFLOW_STORE_TOKEN", "short"),
        ("LEADFLOW_STORE_TOKEN", "a token with spaces in it, long enough"),
        ("LEADFLOW_STORE_TOKEN", "x" * 513),
        ("LEADFLOW_STORE_QUERY_TIMEOUT", "0"),
        ("LEADFLOW_STORE_QUERY_TIMEOUT", "3601"),
        ("LEADFLOW_STORE_QUERY_MEMORY", "1000"),
        ("LEADFLOW_STORE_QUERY_RESULT_ROWS", "0"),
        ("LEADFLOW_GRAFANA_TOKEN", "glsa_short"),
        ("LEADFLOW_GRAFANA_TOKEN", "glsa_0123456789abcdef\r\nX-Other: header"),
        ("LEADFLOW_GRAFANA_TOKEN", "glsa_0123456789abcdef_ümlaut"),
    ],
)
def test_a_bad_variable_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    config_error(monkeypatch, name, value)


def test_the_error_says_what_is_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "chdb:PATH" in config_error(monkeypatch, "LEADFLOW_STORE", "mysql://host/db")
    monkeypatch.delenv("LEADFLOW_STORE")
    assert "host:port" in config_error(monkeypatch, "LEADFLOW_KAFKA_BOOTSTRAP", "localhost")


@pytest.mark.parametrize(
    "url",
    ["http://u:p@ch.example.com:port/db", "https://ch.example.com:99999/db", "http://ch.example.com:-1/db"],
    ids=["port-not-a-number", "port-out-of-range", "port-negative"],
)
def test_a_store_url_with_a_bad_port_is_rejected_at_start_up(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    # Otherwise Settings.server() raises a bare ValueError later, when the store is first opened.
    config_error(monkeypatch, "LEADFLOW_STORE", url)


@pytest.mark.parametrize("value", ["kafka:99999", "kafka:0", "kafka:²"])
def test_a_bootstrap_port_out_of_range_is_rejected(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    config_error(monkeypatch, "LEADFLOW_KAFKA_BOOTSTRAP", value)


def test_a_bad_store_url_does_not_leak_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    # The message goes to stderr and logs; the password is a secret (STYLE: secrets as SecretStr).
    message = config_error(monkeypatch, "LEADFLOW_STORE", "htp://admin:s3cret-pw@ch.example.com:8123/db")
    assert "s3cret-pw" not in message


def test_the_store_token_is_a_secret_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().store_token is None
    message = config_error(monkeypatch, "LEADFLOW_STORE_TOKEN", "too-short-secret")
    assert "too-short-secret" not in message and "32 to 512" in message
    monkeypatch.setenv("LEADFLOW_STORE_TOKEN", "k" * 40)
    token = load_settings().store_token
    assert token is not None and token.get_secret_value() == "k" * 40 and "k" * 40 not in repr(token)


def test_the_grafana_token_is_a_secret_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().grafana_token is None
    message = config_error(monkeypatch, "LEADFLOW_GRAFANA_TOKEN", "glsa_secret with a space")
    assert "glsa_secret" not in message and "with a space" not in message and "(got '***')" in message
    token = "glsa_" + "A1b2" * 8 + "_0a1b2c3d"
    monkeypatch.setenv("LEADFLOW_GRAFANA_TOKEN", token)
    held = load_settings().grafana_token
    assert held is not None and held.get_secret_value() == token and token not in repr(load_settings())


def test_the_query_limits_default_to_30_s_2_gib_and_a_million_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.store_query_timeout, settings.store_query_memory) == (30.0, 2 * 1024**3)
    assert settings.store_query_result_rows == 1_000_000
    monkeypatch.setenv("LEADFLOW_STORE_QUERY_TIMEOUT", "5")
    assert load_settings().store_query_timeout == 5.0


def test_unknown_leadflow_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_NOT_A_SETTING", "x")
    assert isinstance(load_settings(), Settings)
