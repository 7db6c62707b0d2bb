"""A real, local Kafka broker for integration tests, driven through ``deploy/local/kafka.sh``.

One KRaft node (broker + controller) on 127.0.0.1, its data in a directory of the caller's choosing, so a
test can stop, kill and restart it on the same storage. No pytest import: a conftest wraps it in fixtures::

    kafka = LocalKafka(free_port(), tmp_path_factory.mktemp("kafka"))
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.stop()
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO_ROOT / "deploy" / "local" / "kafka.sh"


class KafkaScriptError(RuntimeError):
    """``kafka.sh`` failed; the message carries its output (including the broker log tail on start)."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalKafka:
    """One local Kafka broker on ``127.0.0.1:port`` with its storage, logs and PID file under ``dir``.

    ``start()`` formats the storage on first use and returns once the broker serves requests; starting again
    on the same ``dir`` reuses the storage (topics, offsets and data survive). The controller listener gets
    its own free port, chosen by ``kafka.sh`` on first start and kept in ``dir/controller.port``.
    """

    def __init__(self, port: int, dir: Path, *, start_timeout: float = 60.0) -> None:
        self.port = port
        self.dir = Path(dir).resolve()
        self.start_timeout = start_timeout
        #: Output of the last ``kafka.sh start`` (e.g. ``kafka: ready on 127.0.0.1:PORT (pid N) in 3.4 s``).
        self.last_start_output = ""

    def __repr__(self) -> str:
        return f"LocalKafka(port={self.port}, dir={str(self.dir)!r})"

    @property
    def bootstrap(self) -> str:
        """The ``bootstrap.servers`` string for clients: ``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        """Where ``kafka.sh`` keeps the broker JVM's PID while it runs."""
        return self.dir / "kafka.pid"

    @property
    def broker_log(self) -> Path:
        """The broker's own log (log4j2, INFO), appended to across restarts."""
        return self.dir / "broker.log"

    @property
    def pid(self) -> int | None:
        """The broker's PID from the PID file, or ``None`` when there is no PID file."""
        try:
            text = self.pid_file.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def _run(self, command: str, timeout: float) -> str:
        """Run ``kafka.sh <command> --port P --dir D`` and return its combined output; raise on failure."""
        args = ["bash", str(KAFKA_SH), command, "--port", str(self.port), "--dir", str(self.dir)]
        env = {**os.environ, "LEADFLOW_KAFKA_START_TIMEOUT": str(int(self.start_timeout))}
        try:
            proc = subprocess.run(
                args,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise KafkaScriptError(f"kafka.sh {command} did not finish within {timeout:.0f} s: {exc.output!r}") from exc
        if proc.returncode != 0:
            raise KafkaScriptError(f"kafka.sh {command} failed (exit {proc.returncode}):\n{proc.stdout}")
        return proc.stdout

    def start(self) -> None:
        """Start the broker (fetching the jars and formatting storage if needed) and wait until it answers.

        A no-op when this broker already runs. Raises :class:`KafkaScriptError` with the broker log tail when
        it does not come up within ``start_timeout`` seconds.
        """
        # Slack beyond the script's own wait: a first run may fetch the jars with Maven.
        self.last_start_output = self._run("start", timeout=self.start_timeout + 300)

    def stop(self) -> None:
        """Stop the broker gracefully (SIGTERM, SIGKILL after 20 s); a no-op when it is not running."""
        self._run("stop", timeout=60)

    def kill(self) -> None:
        """SIGKILL the broker at once, as a crash would: no controlled shutdown, storage left unclean.

        ``start()`` afterwards recovers on the same storage. A no-op when it is not running.
        """
        pid = self.pid
        if pid is None or not _is_broker(pid):
            self.pid_file.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _has_live_threads(pid):
            if time.monotonic() > deadline:
                raise KafkaScriptError(f"broker pid {pid} still alive 10 s after SIGKILL")
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

    def is_running(self) -> bool:
        """Whether the broker process from the PID file is alive (it may still be starting)."""
        pid = self.pid
        return pid is not None and _is_broker(pid)


def _is_broker(pid: int) -> bool:
    """Whether ``pid`` is a running Kafka broker JVM (guards against a PID reused by another process)."""
    try:
        cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return b"kafka.Kafka" in cmdline and _has_live_threads(pid)


def _has_live_threads(pid: int) -> bool:
    """Whether any thread of ``pid`` is still alive.

    A SIGKILLed JVM shows its main thread as a zombie (with an empty cmdline) while its other threads still
    tear down and hold its sockets; only when every thread is a zombie or gone is its port free.
    """
    try:
        tasks = list((Path("/proc") / str(pid) / "task").iterdir())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # The state follows the parenthesised thread name, which may itself hold spaces or parentheses.
        fields = stat.rpartition(")")[2].split()
        if fields and fields[0] not in ("Z", "X"):
            return True
    return False
