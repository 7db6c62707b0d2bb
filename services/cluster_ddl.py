"""`leadflow schemas cluster-ddl`: the store's DDL for a replicated, sharded ClickHouse cluster."""

from __future__ import annotations

import argparse
import sys

from services.errors import UsageError


def run_cluster_ddl(args: argparse.Namespace) -> int:
    """Write the cluster variant of schemas/sql to a file, or to standard output."""
    from pipelines.store.client import ddl_statements
    from schemas.cluster import ClusterDdlError, cluster_ddl

    try:
        text = cluster_ddl(ddl_statements())
    except ClusterDdlError as exc:
        raise UsageError(str(exc)) from None
    if args.out is None:
        sys.stdout.write(text)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(args.out)
    return 0
