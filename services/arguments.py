"""Argument types shared by the leadflow subcommands: each refuses what the store cannot hold, naming the flag."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from typing import NoReturn

# ClickHouse's DateTime64 holds 1900-01-01 to 2299-12-31 (UTC); a day off the first end leaves room for any
# time zone's midnight, and a window's last day (--to is exclusive) ends before the last one
FIRST_DAY, LAST_DAY = date(1900, 1, 2), date(2299, 12, 31)
FIRST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
LAST_INSTANT = datetime(2299, 12, 31, 23, 59, 59, tzinfo=UTC)


def day_problem(day: date) -> str | None:
    """Return why the store cannot hold a day, or None."""
    if FIRST_DAY <= day <= LAST_DAY:
        return None
    return f"{day} is outside the days the store holds ({FIRST_DAY} to {LAST_DAY})"


def store_day(text: str) -> date:
    """Parse a day (YYYY-MM-DD) within the store's range."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day as YYYY-MM-DD") from None
    problem = day_problem(day)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return day


def aware_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant that carries its UTC offset (a naive time is refused) within the store's range."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        example = "2026-12-01T00:00:00+01:00"
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 instant, e.g. {example}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. {text}+00:00")
    if not FIRST_INSTANT <= value <= LAST_INSTANT:
        span = f"{FIRST_INSTANT.isoformat()} to {LAST_INSTANT.isoformat()}"
        raise argparse.ArgumentTypeError(f"{text} is outside the times the store holds ({span})")
    return value


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the argument (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        """Print `PROG: error: MESSAGE (see --help)` and exit with code 2."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive_int(text: str) -> int:
    """Parse a whole number of at least 1, for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
