"""Faust's flow control of stream queues, without dropping live records when the flow is resumed twice.

Faust's app has one flow-control event for every stream queue, and resuming it also empties those queues: a
rebalance suspends the flow, so whatever is still queued then belongs to the old assignment and is read again
from the committed offsets. But Faust resumes the flow twice per rebalance: when table recovery starts, and again
when it ends, after the stream partitions were resumed and while their committed offsets are being fetched. In
between, the fetcher hands on live records, and the second resume threw them away. A partition with a committed
offset is sought back to it and reads them again; one without (a topic no worker has committed on yet) is not,
and lost them: its position had moved past records that no agent ever saw, and its commits then passed over
them.

Here a resume empties the queues only when the flow was actually suspended: the first resume after a rebalance
still drops the old assignment's records, the second one keeps the live ones.
"""

from __future__ import annotations

import logging

from mode.utils.queues import FlowControlEvent

log = logging.getLogger(__name__)


class FlowControl(FlowControlEvent):
    """Flow control whose resume empties the stream queues only if the flow was suspended."""

    def resume(self) -> None:
        """Resume production into the queues; drop what they hold only if the flow was suspended until now."""
        if self.is_active():  # not suspended: only the waiters need releasing
            self._resume.set()
            if log.isEnabledFor(logging.DEBUG):
                log.debug("flow resumed again: %d queued records kept", sum(q.qsize() for q in self._queues))
            return
        super().resume()
