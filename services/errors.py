"""Errors that end a command with one clear line instead of a traceback."""

from __future__ import annotations

from dashboards.exceptions import GrafanaError
from pipelines.agreements import AgreementError
from pipelines.settings import ConfigError
from pipelines.store.exceptions import StoreError
from pipelines.topics import TopicError


class KafkaUnavailable(Exception):
    """The Kafka broker does not answer or refused a request."""


class UsageError(Exception):
    """A command was called with arguments it cannot use."""


CLEAR_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    StoreError,
    AgreementError,
    TopicError,
    KafkaUnavailable,
    UsageError,
    GrafanaError,
)
