"""Subcommands that live in their own packages: each module has `add_parser(subparsers)`.

The parser it adds sets `handler` (a function of the parsed arguments returning an exit code) with
`set_defaults(handler=...)`.
"""

from __future__ import annotations

COMMAND_MODULES: tuple[str, ...] = (
    "dashboards.command",
    "services.collector.command",
    "services.lead_command",
    "services.plan_command",
    "services.store_command",
)
