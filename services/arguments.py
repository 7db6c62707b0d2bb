"""Argument types shared by the leadflow subcommands."""

from __future__ import annotations

import argparse
from datetime import datetime


def aware_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant that carries its UTC offset (a naive time is refused)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. {text}+00:00")
    return value


def positive_int(text: str) -> int:
    """Parse a whole number of at least 1, for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
