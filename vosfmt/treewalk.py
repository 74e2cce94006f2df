"""A node-by-node walk of one B+tree that reports damage instead of raising.

``TreeReader`` serves lookups and listings and raises at the first bad page.
A checker (and anything that must account for every page, such as freeing a
tree) needs the opposite: visit every node it can reach, say what is wrong
with the others, and go on. ``TreeWalk`` is that walk. Iterating it yields,
in key order:

``Leaf``
    a sound leaf's entries, and the positions of those that break key order
    (page 0 for a tree embedded in its parent record);
``Damage``
    a node that cannot be used (unreadable, at the wrong level, reached
    twice) or a branch key that does not bound its subtree: lookups by key
    would miss records there;
``Miscount``
    a branch entry whose stored record count differs from what the subtree it
    points at holds (only for subtrees without damage): lookups by index go
    astray.

``pages`` lists the node pages reached, each once, in visiting order: what a
rebuild of the tree leaves behind.
"""
from __future__ import annotations

from operator import lt

from .constants import RootFlags
from .errors import CorruptionError
from .record_decoding import record_name


class Leaf:
    __slots__ = ("page", "keys", "vals", "unordered")

    def __init__(self, page: int, keys: list, vals: list, unordered: tuple):
        self.page, self.keys, self.vals = page, keys, vals
        self.unordered = unordered      # positions of keys not above the key before them


class Damage:
    __slots__ = ("page", "error")

    def __init__(self, page: int, error: CorruptionError):
        self.page, self.error = page, error

    @property
    def reason(self) -> str:
        return self.error.reason


class Miscount:
    __slots__ = ("page", "stored", "actual")

    def __init__(self, page: int, stored: int, actual: int):
        self.page = page                # the child the wrong branch entry points at
        self.stored, self.actual = stored, actual


class TreeWalk:
    """One depth-first pass over a tree's pages, checking what lookups rely on.

    ``leaves=False`` reads branch nodes only: leaf pages are listed but not
    read, so no ``Leaf`` or ``Miscount`` events come (what freeing needs).
    """

    def __init__(self, reader, root, path: str | None = None, *, leaves: bool = True):
        self.reader, self.root, self.path, self.leaves = reader, root, path, leaves
        self.pages: list[int] = []
        self._seen: set = set()
        self._entries = 0               # leaf entries met so far
        self._damage = 0                # Damage events so far
        self._last = None               # the last key met
        self._lower = None              # the branch key bounding the next leaf from below

    def __iter__(self):
        root = self.root
        if root.flags & RootFlags.EMBEDDED:
            if not self.leaves:
                return                  # no pages of its own
            try:
                keys, vals = self.reader.embedded_entries(root, self.path)
            except CorruptionError as e:
                yield Damage(0, e)
            else:
                yield Leaf(0, keys, vals, self._unordered(keys))
            return
        if root.page:
            yield from self._run(root.page, root.depth)

    def _run(self, page: int, depth: int):
        # ("node", page, level, branch key, stored count), or ("end", page, stored count,
        # entries and damage before the subtree) once the subtree is done
        stack = [("node", page, depth, None, None)]
        while stack:
            item = stack.pop()
            if item[0] == "end":
                _tag, child, stored, start, ndamage = item
                actual = self._entries - start
                if stored is not None and actual != stored and self._damage == ndamage \
                        and self.leaves:        # (a damaged subtree has no count)
                    yield Miscount(child, stored, actual)
                continue
            _tag, page, level, key, stored = item
            stack.append(("end", page, stored, self._entries, self._damage))
            if level == 0 and not self.leaves:
                if self._first_visit(page):
                    self.pages.append(page)
                else:
                    yield self._damaged(page, "node reached twice (a cycle or a duplicated "
                                              "pointer)")
                continue
            node = yield from self._visit(page, level, key)
            if node is None:
                continue
            if node.leaf:
                yield from self._leaf(page, node)
            else:
                stack.extend(("node", k, level - 1, node.keys[j] if j else None, node.counts[j])
                             for j, k in reversed(list(enumerate(node.kids))))

    def _first_visit(self, page: int) -> bool:
        if page in self._seen:
            return False
        self._seen.add(page)
        return True

    def _damaged(self, page: int, reason: str) -> Damage:
        self._damage += 1
        return Damage(page, CorruptionError(
            reason, offset=page * self.reader.page_size,
            structure=f"{record_name(self.root.tclass)} tree", path=self.path,
            file=getattr(self.reader.df, "path", None)))

    def _visit(self, page: int, level: int, key):
        """The node at ``page`` if it is sound where it was reached, else None (reported)."""
        if not self._first_visit(page):
            yield self._damaged(page, "node reached twice (a cycle or a duplicated pointer)")
            return None
        self.pages.append(page)
        try:
            node = self.reader.node(page, self.root.tclass, self.path)
        except CorruptionError as e:
            self._damage += 1
            yield Damage(page, e)
            return None
        if node.level != level:
            yield self._damaged(page, f"node at level {node.level}, expected {level}")
            return None
        if key is not None:
            if self._last is not None and self._last >= key:
                yield self._damaged(page, "branch key does not bound its subtree")
            self._lower = key
        return node

    def _leaf(self, page: int, node):
        if self._lower is not None and node.keys[0] < self._lower:
            yield self._damaged(page, "branch key does not bound its subtree")
        self._lower = None
        self._entries += len(node.keys)
        yield Leaf(page, node.keys, node.vals, self._unordered(node.keys))

    def _unordered(self, keys) -> tuple:
        """Positions of keys not above the key before them (across leaves); remembers the last."""
        last = self._last
        out = ()
        if keys and (last is None or keys[0] > last) and _sorted(keys):
            self._last = keys[-1]
            return out
        bad = []
        for i, k in enumerate(keys):
            if last is not None and k <= last:
                bad.append(i)
            last = k
        self._last = last
        return tuple(bad)


def _sorted(keys) -> bool:
    return all(map(lt, keys, keys[1:]))       # strictly increasing; map keeps it in C
