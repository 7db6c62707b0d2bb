"""Attack tests run against the real processes: the session's broker (tests/conftest.py), topics and stores."""

from tests.integration.conftest import worker_env  # noqa: F401  (a fixture, shared with the integration tests)
