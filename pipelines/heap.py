"""CPython's cyclic garbage collector set for a long-running pipeline process, once its start-up is done.

With CPython's default thresholds (700, 10, 10) a worker draining a backlog spent a fifth of its CPU in the
collector: 1,493 young, 136 middle and 12 full collections over 78,308 events, the full ones about 140 ms each,
every one of them walking every object the process holds (the libraries' modules and classes, the Faust app, the
lead and visitor tables). Two changes take that to 44 young collections and none of the others:

- `gc.freeze()` once start-up is done: what exists then (imports, the app, the agreements) lives as long as the
  process, so no collection walks it again;
- a young generation of 20,000 allocations instead of 700, and older generations collected less often. Records
  are mostly handled without reference cycles, so collecting more rarely frees the same memory a little later.

Reference counting frees everything outside a cycle at once, as before; the collector still runs, less often.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 20_000  # allocations (less deallocations) of tracked objects between two young collections
MIDDLE = 50  # young collections between two collections of the middle generation
OLD = 100  # middle collections before a full one is considered (CPython also waits for 25% more long-lived objects)


def settle_heap() -> None:
    """Collect once, keep everything alive now out of every later collection, and collect less often from here on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)


@contextmanager
def paused_collector() -> Iterator[None]:
    """Leave the cyclic collector off for a batch job's loop; what the loop made is kept out of later collections.

    A replay keeps every lead and visitor state and a batch of rows alive: each young collection walks 20,000
    survivors and frees nothing (16 of them, 6% of the replay's core, over the benchmark's 78,308 lines). The
    core makes no reference cycles (`tests/unit/test_heap.py` replays a simulated file and finds none), and
    reference counting frees everything else as it goes, so pausing the collector keeps the same memory. At
    the end what the loop made is frozen, as `settle_heap` freezes start-up's: otherwise the first collection
    after the loop would walk all of it at once. The collector is left as it was (off stays off).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()
