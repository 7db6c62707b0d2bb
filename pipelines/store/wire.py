"""Store values as JSON and back, without losing their type: the encoding of the store pages and RemoteStore.

JSON keeps None, bools, ints, finite floats, strings and lists as they are. Every other value becomes an object
with exactly one tag key: `{"$dt": "2026-11-02T08:00:00+00:00"}`. Dicts are tagged too, so an untagged object
never occurs and a tag can never be mistaken for data. Datetimes keep their wall time and UTC offset (not the
name of their zone).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _encode_float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def _encode_tagged(value: Any) -> dict[str, Any]:
    """Tag a value that JSON has no type for; TypeError for a type the store never holds."""
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(v) for v in value]}
    if isinstance(value, dict):
        return {"$dict": [[encode_value(k), encode_value(v)] for k, v in value.items()]}
    if isinstance(value, UUID):
        return {"$uuid": str(value)}
    raise TypeError(f"cannot send a value of type {type(value).__name__} to or from the store")


def encode_value(value: Any) -> Any:
    """Make one value JSON-safe, keeping what `decode_value` needs to rebuild it with its type."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    return _encode_tagged(value)


def _decode_dict(pairs: list[list[Any]]) -> dict[Any, Any]:
    return {decode_value(k): decode_value(v) for k, v in pairs}


DECODERS: dict[str, Callable[[Any], Any]] = {
    "$dt": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$dec": Decimal,
    "$bytes": lambda text: base64.b64decode(text, validate=True),
    "$tuple": lambda items: tuple(decode_value(v) for v in items),
    "$dict": _decode_dict,
    "$uuid": UUID,
    "$float": lambda name: NON_FINITE[name],
}


def decode_value(value: Any) -> Any:
    """Undo `encode_value`; ValueError for an object that is not one known tag."""
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise ValueError(f"expected one tag such as $dt, got keys {sorted(value)[:5]}")
    ((tag, inner),) = value.items()
    decoder = DECODERS.get(tag)
    if decoder is None:
        raise ValueError(f"unknown value tag {tag!r}")
    try:
        return decoder(inner)
    except (TypeError, KeyError, ArithmeticError) as exc:
        raise ValueError(f"bad {tag} value {inner!r}: {exc}") from None


def encode_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """Make query parameters JSON-safe."""
    return {k: encode_value(v) for k, v in parameters.items()}


def decode_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """Undo `encode_parameters`."""
    return {str(k): decode_value(v) for k, v in parameters.items()}


def encode_row(row: Sequence[Any]) -> list[Any]:
    """Make one row JSON-safe."""
    return [encode_value(v) for v in row]


def insert_bodies(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], max_bytes: int) -> Iterator[bytes]:
    """Yield JSON insert requests of at most `max_bytes` each (a single larger row goes alone), rows in order.

    Rows carry their idempotency keys, so a batch split over several requests may be sent again whole.
    """
    head = json.dumps({"table": table, "columns": list(columns)})[:-1] + ', "rows": ['
    chunk: list[str] = []
    size = len(head) + 2
    for row in rows:
        encoded = json.dumps(encode_row(row))
        if chunk and size + len(encoded) + 1 > max_bytes:
            yield (head + ",".join(chunk) + "]}").encode("ascii")
            chunk, size = [], len(head) + 2
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk:
        yield (head + ",".join(chunk) + "]}").encode("ascii")
