"""`leadflow collector`: serve the HTTP collector; `leadflow collector hash-key`: make or hash an API key."""

from __future__ import annotations

import argparse
import sys

from services.collector.keys import hash_key, new_key
from services.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `collector` (and its `hash-key` action) to the leadflow command."""
    p = sub.add_parser("collector", help="HTTP collector: CloudEvents, HubSpot webhooks and the website snippet")
    p.add_argument("--port", type=int, help="port to listen on (LEADFLOW_COLLECTOR_PORT, default 8088)")
    p.add_argument("--host", help="address to listen on (LEADFLOW_COLLECTOR_HOST, default 127.0.0.1)")
    p.set_defaults(handler=run_collector)
    actions = p.add_subparsers(dest="collector_command", metavar="ACTION")
    h = actions.add_parser("hash-key", help="print the key_sha256 of a key read from stdin, or of a new key")
    h.add_argument("--generate", metavar="SOURCE", help="make a new random key for SOURCE and print it with its hash")
    h.set_defaults(handler=run_hash_key)


def run_collector(args: argparse.Namespace) -> int:
    """Load and check the configuration, then serve until stopped."""
    from services.collector.app import run
    from services.collector.settings import load_collector_config

    return run(load_collector_config(port=args.port, host=args.host))


def run_hash_key(args: argparse.Namespace) -> int:
    """Print a key's SHA-256 (the key from stdin, so it stays out of shell history), or a new key and its hash."""
    if args.generate:
        key = new_key(args.generate)
        print(f"key: {key}\nkey_sha256: {hash_key(key)}")
        return 0
    key = sys.stdin.readline().strip()
    if not key:
        raise UsageError("no key on stdin: pipe it in, or use --generate SOURCE for a new one")
    if len(key) < 24:
        print(
            "leadflow collector hash-key: warning: keys shorter than 24 characters are easy to guess", file=sys.stderr
        )
    print(hash_key(key))
    return 0
