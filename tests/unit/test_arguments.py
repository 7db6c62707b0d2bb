"""Argument types of the leadflow command: days and instants the store can hold, errors as one line."""

from __future__ import annotations

import argparse
import re
from datetime import date

import pytest

from services.arguments import aware_instant, store_day
from services.cli import build_parser


def test_days_within_the_store_range() -> None:
    assert store_day("1900-01-02") == date(1900, 1, 2) and store_day("2299-12-31") == date(2299, 12, 31)
    for text, message in [
        ("0001-01-01", "0001-01-01 is outside the days the store holds (1900-01-02 to 2299-12-31)"),
        ("2300-01-01", "2300-01-01 is outside the days the store holds (1900-01-02 to 2299-12-31)"),
        ("soon", "'soon' is not a day as YYYY-MM-DD"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
            store_day(text)


def test_instants_within_the_store_range() -> None:
    assert aware_instant("2026-12-01T00:00:00+01:00").year == 2026
    with pytest.raises(argparse.ArgumentTypeError, match="outside the times the store holds"):
        aware_instant("9999-12-31T00:00:00+00:00")
    with pytest.raises(argparse.ArgumentTypeError, match="needs a UTC offset"):
        aware_instant("2026-12-01T00:00:00")


def test_a_bad_argument_is_one_line_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        build_parser().parse_args(["report", "--from", "0001-01-01", "--to", "2026-12-01"])
    assert ended.value.code == 2
    assert capsys.readouterr().err == (
        "leadflow report: error: argument --from: 0001-01-01 is outside the days the store holds "
        "(1900-01-02 to 2299-12-31) (see --help)\n"
    )
