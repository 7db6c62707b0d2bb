"""`leadflow store serve`: hold the embedded store for every other leadflow process."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `store` and its `serve` action to the leadflow command."""
    p = sub.add_parser("store", help="the store: serve an embedded chDB store to several workers")
    actions = p.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    s = actions.add_parser("serve", help="hold the embedded store and answer queries and inserts over HTTP")
    s.add_argument("--host", help="address to listen on (LEADFLOW_WEB_HOST, default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port to listen on (LEADFLOW_WEB_PORT, default 6066)")
    s.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    """Read the settings, then serve the store until stopped."""
    from pipelines.settings import load_settings
    from services.store_service import run_store_service

    return run_store_service(load_settings(web_host=args.host, web_port=args.port))
