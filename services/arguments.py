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
