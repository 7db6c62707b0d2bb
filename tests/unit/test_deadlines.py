"""The deadline index: leads due in time order, rescheduling with lazy deletion, partitions, bounded memory."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.core.deadlines import DeadlineIndex

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
COMPACTION_SLACK = 1024  # stale entries the index may keep before it rebuilds its heap


def index_of(*entries: tuple[str, int, int | None]) -> DeadlineIndex:
    index = DeadlineIndex()
    for lead, partition, due in entries:
        index.schedule(lead, partition, due)
    return index


def test_an_empty_index_has_nothing_due() -> None:
    index = DeadlineIndex()
    assert len(index) == 0 and index.next_due() is None and index.pop_due(10**15) == []


def test_leads_come_out_in_due_order_with_ties_by_lead() -> None:
    index = index_of(("a", 0, 300), ("b", 1, 100), ("c", 2, 200), ("d", 0, 100))
    assert len(index) == 4 and index.next_due() == 100
    assert index.pop_due(1000) == [("b", 1), ("d", 0), ("c", 2), ("a", 0)]
    assert len(index) == 0 and index.next_due() is None


def test_only_what_is_due_by_now_comes_out() -> None:
    index = index_of(("a", 0, 300), ("b", 0, 100), ("c", 0, 200))
    assert index.pop_due(99) == []
    assert index.pop_due(100) == [("b", 0)]
    assert index.next_due() == 200
    assert index.pop_due(250) == [("c", 0)]
    assert len(index) == 1 and index.next_due() == 300


def test_a_popped_lead_is_gone_until_scheduled_again() -> None:
    index = index_of(("a", 0, 100))
    assert index.pop_due(100) == [("a", 0)]
    assert index.pop_due(100) == []
    index.schedule("a", 0, 100)
    assert index.pop_due(100) == [("a", 0)]


def test_rescheduling_later_skips_the_old_entry() -> None:
    index = index_of(("a", 0, 100), ("a", 0, 500))
    assert len(index) == 1
    assert index.next_due() == 500
    assert index.pop_due(200) == []
    assert index.pop_due(500) == [("a", 0)]


def test_rescheduling_earlier_leaves_nothing_behind() -> None:
    index = index_of(("a", 0, 500), ("a", 0, 50))
    assert index.pop_due(60) == [("a", 0)]
    assert index.pop_due(10**9) == [] and index.next_due() is None


def test_rescheduling_back_to_an_old_instant_gives_the_lead_once() -> None:
    index = index_of(("a", 0, 100), ("a", 0, 200), ("a", 0, 100))
    assert index.pop_due(300) == [("a", 0)]
    assert index.next_due() is None


def test_rescheduling_to_another_partition_at_the_same_instant_moves_it() -> None:
    index = index_of(("a", 0, 100), ("a", 3, 100))
    assert index.pop_due(100) == [("a", 3)]
    assert index.pop_due(100) == []


def test_scheduling_the_same_thing_twice_changes_nothing() -> None:
    index = index_of(("a", 0, 100), ("a", 0, 100))
    assert len(index) == 1 and index.pop_due(100) == [("a", 0)] and index.pop_due(100) == []


def test_none_clears_a_lead() -> None:
    index = index_of(("a", 0, 100), ("b", 0, 200), ("a", 0, None))
    assert len(index) == 1 and index.next_due() == 200
    assert index.pop_due(1000) == [("b", 0)]
    index.schedule("nobody", 0, None)  # clearing an unknown lead is harmless
    assert len(index) == 0


def test_pop_due_stops_at_its_limit_and_the_rest_stays_due() -> None:
    index = index_of(*((f"L{i}", 0, 100 + i) for i in range(5)))
    assert index.pop_due(1000, limit=0) == []
    assert index.pop_due(1000, limit=2) == [("L0", 0), ("L1", 0)]
    assert len(index) == 3 and index.next_due() == 102
    assert index.pop_due(1000, limit=10) == [("L2", 0), ("L3", 0), ("L4", 0)]


def test_stale_entries_do_not_count_against_the_limit() -> None:
    index = index_of(("a", 0, 10), ("b", 0, 20), ("a", 0, 30), ("c", 0, 40))
    assert index.pop_due(100, limit=2) == [("b", 0), ("a", 0)]
    assert index.pop_due(100, limit=2) == [("c", 0)]


def test_drop_partitions_forgets_their_leads() -> None:
    index = index_of(("a", 0, 100), ("b", 1, 50), ("c", 2, 75), ("d", 1, 300))
    assert index.drop_partitions([1, 5]) == 2
    assert len(index) == 2
    assert index.next_due() == 75  # b's entry is skipped
    assert index.pop_due(1000) == [("c", 2), ("a", 0)]
    assert index.drop_partitions([0, 1, 2]) == 0


def test_a_dropped_lead_can_be_scheduled_again() -> None:
    index = index_of(("a", 1, 100))
    assert index.drop_partitions({1}) == 1
    index.schedule("a", 1, 100)
    assert index.pop_due(100) == [("a", 1)]
    assert index.pop_due(100) == []


def test_next_due_skips_stale_entries() -> None:
    index = index_of(("a", 0, 10), ("b", 0, 20), ("c", 0, 30), ("a", 0, 40), ("b", 0, None))
    assert index.next_due() == 30
    index.schedule("c", 0, None)
    assert index.next_due() == 40
    index.schedule("a", 0, None)
    assert index.next_due() is None


def test_heavy_rescheduling_keeps_memory_bounded_and_answers_right() -> None:
    index = DeadlineIndex()
    leads = [f"L{i}" for i in range(10)]
    for step in range(5000):
        lead = leads[step % len(leads)]
        index.schedule(lead, step % 3, 10_000 - step)
        assert len(index._heap) <= 2 * len(index) + COMPACTION_SLACK + 1
    # The last round scheduled L0..L9 at 10_000 - 4990 ... 10_000 - 4999.
    expected = [(leads[i], (4990 + i) % 3) for i in range(9, -1, -1)]
    assert index.next_due() == 5001
    assert index.pop_due(10**9) == expected
    assert index.next_due() is None


# --- against a dict model ----------------------------------------------------------------------------


LEADS = st.sampled_from([f"L{i}" for i in range(6)])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("schedule"), LEADS, st.integers(0, 2), st.none() | st.integers(0, 60)),
        st.tuples(st.just("pop"), st.integers(0, 70), st.none() | st.integers(0, 3)),
        st.tuples(st.just("next")),
        st.tuples(st.just("drop"), st.frozensets(st.integers(0, 3), max_size=2)),
        # many reschedules of one lead, enough for the index to compact its heap
        st.tuples(st.just("churn"), LEADS, st.integers(0, 2), st.integers(0, 60)),
    ),
    max_size=30,
)


class Model:
    """The plain meaning of the index: a dict of lead -> (due, partition)."""

    def __init__(self) -> None:
        self.due: dict[str, tuple[int, int]] = {}

    def schedule(self, lead: str, partition: int, due: int | None) -> None:
        if due is None:
            self.due.pop(lead, None)
        else:
            self.due[lead] = (due, partition)

    def pop_due(self, now: int, limit: int | None) -> list[tuple[str, int]]:
        ready = sorted((due, lead) for lead, (due, _) in self.due.items() if due <= now)
        taken = ready if limit is None else ready[:limit]
        return [(lead, self.due.pop(lead)[1]) for _, lead in taken]

    def next_due(self) -> int | None:
        return min((due for due, _ in self.due.values()), default=None)

    def drop(self, partitions: frozenset[int]) -> int:
        gone = [lead for lead, (_, p) in self.due.items() if p in partitions]
        for lead in gone:
            del self.due[lead]
        return len(gone)


def _apply(index: DeadlineIndex, model: Model, op: tuple[Any, ...]) -> None:
    name, *args = op
    if name == "schedule":
        index.schedule(*args)
        model.schedule(*args)
    elif name == "pop":
        assert index.pop_due(*args) == model.pop_due(*args)
    elif name == "next":
        assert index.next_due() == model.next_due()
    elif name == "drop":
        assert index.drop_partitions(args[0]) == model.drop(args[0])
    else:
        lead, partition, due = args
        for step in range(700):
            index.schedule(lead, partition, due + (step * 7919) % 97)
        index.schedule(lead, partition, due)
        model.schedule(lead, partition, due)


@PROPERTY
@given(operations)
def test_the_index_behaves_like_a_dict_of_due_instants(ops: list[tuple[Any, ...]]) -> None:
    index, model = DeadlineIndex(), Model()
    for op in ops:
        _apply(index, model, op)
        assert len(index) == len(model.due)
        if op[0] in ("schedule", "churn"):  # scheduling is what compacts
            assert len(index._heap) <= 2 * len(index) + COMPACTION_SLACK + 1
    assert index.next_due() == model.next_due()
    assert index.pop_due(10**9) == model.pop_due(10**9, None)
