"""vosfmt.usage.SpaceUsage: the page ledger, with every owner kept or (the checker's) a byte per page."""
from __future__ import annotations

from types import SimpleNamespace

from vosfmt.usage import SpaceUsage

SB = SimpleNamespace(total_pages=10, page_size=4096, blk_size=4096, hdr_blks=1, tot_blks=8)


def test_a_labelled_ledger_keeps_every_owner():
    u = SpaceUsage.of(SB)
    u.own_page(3, "a")
    u.own_page(3, "b", {"x": 1})
    u.own_page(12, "past the end")
    assert u.pages == {3: "a", 12: "past the end"}
    assert u.page_conflicts == [(3, "b", "a", {"x": 1})]
    u.free_pages.update({3, 4, 5})
    assert u.leaked_pages == {2, 6, 7, 8, 9} and u.free_and_used_pages == {3}
    assert u.unused_pages() == [2, 4, 5, 6, 7, 8, 9] and u.unused_pages(12) == [2, 4, 5, 6, 7, 8, 9, 10, 11]


def test_the_checkers_ledger_keeps_owners_only_of_the_pages_asked_for():
    u = SpaceUsage.of(SB, labelled={5})
    for p, who in ((3, "a"), (5, "b"), (3, "c"), (5, "d"), (12, "e"), (12, "f")):
        u.own_page(p, who)
    assert u.pages == {5: "b", 12: "e"}             # past the end: always kept (rare, damage)
    assert u.page_conflicts == [(3, "c", None, None), (5, "d", "b", None), (12, "f", "e", None)]
    assert bytes(u.used) == bytes([0, 0, 0, 1, 0, 1, 0, 0, 0, 0])
    assert u.is_used(3) and u.is_used(12) and not u.is_used(4) and not u.is_used(11)
    assert u.leaked_pages == {2, 4, 6, 7, 8, 9}
