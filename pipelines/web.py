"""The worker's web pages: Prometheus metrics, and read queries on the store it holds."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipelines.metrics import REGISTRY
from pipelines.store.client import Store, decode_parameters, encode_value
from pipelines.store.exceptions import StoreError

READ_ONLY = re.compile(r"^\s*(SELECT|WITH)\b", re.IGNORECASE)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    return encode_value(value)


def register_pages(app: faust.App, store: Store, executor: ThreadPoolExecutor) -> None:
    """Add /metrics and /leadflow/query to the worker's web server."""

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/leadflow/query")
    class Query(View):
        async def post(self, request: Request) -> Response:
            body = await request.json()
            sql = str(body.get("sql", ""))
            if not READ_ONLY.match(sql) or ";" in sql.rstrip().rstrip(";"):
                return self.json({"error": "only one SELECT or WITH query is allowed"}, status=400)
            parameters = decode_parameters(body.get("parameters") or {})
            loop = asyncio.get_running_loop()
            try:
                rows = await loop.run_in_executor(executor, store.query, sql, parameters)
            except StoreError as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.json({"rows": [[_json_value(v) for v in row] for row in rows]})
