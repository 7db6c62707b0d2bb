"""leadflow's decoder of the common event types (Rust, PyO3): raw bytes to the core's `Event` in one pass."""

from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T", bound=tuple[Any, ...])

EVENT_FIELDS: int

class EventDecoder(Generic[T]):
    """Decodes the common event types into `event_type`, a named tuple of `EVENT_FIELDS` fields."""

    def __init__(self, event_type: type[T]) -> None: ...
    def decode(self, raw: bytes) -> T | None:
        """Return the event if the pydantic models accept it as it is; None: ask them."""

def event_row(
    event: tuple[Any, ...], origin: tuple[str, int, int]
) -> tuple[str, str, str, datetime, str, str, str, str, str, int, int]:
    """Return the row of `events` for a valid event and its origin."""
