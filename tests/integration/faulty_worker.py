"""`leadflow worker` whose core fails on the events of one lead: how a bug in the core meets a live worker.

    python -m tests.integration.faulty_worker LEAD_ID

Everything is the real worker except `lead_step`, which raises for events of LEAD_ID (only the test that
starts this process uses it).
"""

from __future__ import annotations

import sys
from typing import Any

import pipelines.agents
from pipelines.core.steps import LeadEffects, lead_step
from services.cli import main


def failing_for(lead_id: str) -> Any:
    """Return `lead_step`, raising for one lead."""

    def step(state: Any, event: Any) -> LeadEffects:
        if event.lead_id == lead_id:
            raise RuntimeError(f"the core fails on lead {lead_id}")
        return lead_step(state, event)

    return step


if __name__ == "__main__":
    pipelines.agents.lead_step = failing_for(sys.argv[1])  # type: ignore[assignment]
    sys.exit(main(["worker"]))
