"""Attack tests run against the real processes: the integration fixtures' broker, topics and stores."""

from tests.integration.conftest import kafka, worker_env  # noqa: F401  (fixtures, shared with the integration tests)
