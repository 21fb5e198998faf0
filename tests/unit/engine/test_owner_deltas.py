"""Delta updates (issue 12): stage 1 sends the facts a batch changed and the ids some owner no
longer holds; every owner ends with exactly the facts a full update would have given it."""

from service.config import KpiConfig
from service.engine.facts import F_ASSIGNED, F_FULL_RESOLVED, Assigned, Duration, Fact
from service.engine.owners import OwnerBook, conversation_update, owner_syncs


def policy() -> KpiConfig:
    return KpiConfig()


def _held(book: OwnerBook, owner: str) -> tuple[Fact, ...]:
    return book.held.get(owner, {}).get("c1", ())


def test_a_fact_that_moves_to_another_agent_is_retracted_where_it_was() -> None:
    """The full resolution is credited to the latest resolver: a7 first, a8 after a reopen.
    The delta carries the new version for a8 and a retraction for a7, whose sync has no fact."""
    assigned = Assigned("c1:as1", F_ASSIGNED, 1_000, "billing", "a7", 0)
    first = Duration("c1:fu", F_FULL_RESOLVED, 2_000, "billing", "a7", 1_000, 1_000)
    again = first._replace(at=9_000, agent="a8", ms=8_000, business_ms=8_000)
    book = OwnerBook(policy(), 25 * 3_600_000)
    full, holders = conversation_update("c1", (assigned, first), None)
    for sync in owner_syncs(full):
        book.apply_sync(sync)
    assert _held(book, "a:a7") == (assigned, first)
    delta, _ = conversation_update("c1", (assigned, again), None, holders,
                                   changed=[(first, again)])
    assert delta.full is False and delta.facts == (again,)
    assert delta.retracted == (("c1:fu", ("a:a7",)),)
    for _ in range(2):  # idempotent by fact id
        for sync in owner_syncs(delta):
            book.apply_sync(sync)
    assert _held(book, "a:a7") == (assigned,)
    assert _held(book, "a:a8") == (again,)
    assert _held(book, "t:billing") == (assigned, again)
    assert _held(book, "o") == (assigned, again)


def test_a_retracted_fact_leaves_every_owner() -> None:
    assigned = Assigned("c1:as1", F_ASSIGNED, 1_000, "billing", "a7", 1)
    book = OwnerBook(policy(), 25 * 3_600_000)
    full, holders = conversation_update("c1", (assigned,), None)
    for sync in owner_syncs(full):
        book.apply_sync(sync)
    delta, _ = conversation_update("c1", (), None, holders, changed=[(assigned, None)])
    assert delta.facts == () and delta.retracted == (("c1:as1", ("a:a7", "o", "t:billing")),)
    for sync in owner_syncs(delta):
        book.apply_sync(sync)
    assert all(not _held(book, owner) for owner in ("o", "t:billing", "a:a7"))
