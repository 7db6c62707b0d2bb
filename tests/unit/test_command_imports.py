"""Commands that never talk to Kafka start without importing its clients (a tenth of a second of each start)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAFKA_CLIENTS = ("aiokafka", "faust", "kafka")


def loaded_after(code: str) -> set[str]:
    """Return the Kafka client packages a fresh interpreter has loaded after running `code`."""
    probe = f"import sys\n{code}\nprint(' '.join(sorted({{n.split('.')[0] for n in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(result.stdout.split()) & set(KAFKA_CLIENTS)


def test_the_command_line_and_the_replay_load_no_kafka_client() -> None:
    code = "from services.cli import build_parser\nbuild_parser()\nimport services.commands, pipelines.replay"
    assert loaded_after(code) == set()


def test_the_probe_sees_a_kafka_client_when_one_is_loaded() -> None:
    assert loaded_after("import pipelines.absences") == {"aiokafka", "kafka"}
