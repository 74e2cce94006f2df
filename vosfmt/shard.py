"""Opening a pool shard and navigating it (the read API).

``open_shard`` reads the two superblock slots and nothing else, so opening
costs the same for a 1 MiB and a 4 GiB shard. Navigation goes through the
handles of ``vosfmt.handles`` (``Container``, ``VosObject``, ``DKey``,
``AKey``), value bytes through ``vosfmt.value_io``. Every read is bounds- and
checksum-checked; trouble surfaces as ``CorruptionError`` naming the
structure, offset and VOS path.

Writing is a layer above: ``vosfmt.txn.Transaction(shard)`` and
``vosfmt.batch.Batch(shard)`` take a shard opened with ``write=True`` (or a
batch's dry run) and keep their state in the shard's declared ``writer``.
This module never imports them.
"""
from __future__ import annotations

from .btree import TreeReader
from .constants import KNOWN_INCOMPAT, KNOWN_RO_COMPAT, PAGE_SIZE, TreeClass
from .errors import CorruptionError, FormatError, NotFoundError, ReadOnlyError, VosError
from .handles import Container
from .keys import blk_from_key, uuid_bytes, uuid_str
from .pagefile import DataFile
from .paths import db_root_of
from .record_decoding import guarded
from .records import FreeExtent, dec_container, dec_vea
from .space import read_freelist_page
from .superblock import SlotReport, Superblock, choose_superblock, encode_superblock, judge_slots
from .value_io import ValueReads


class WriterState:
    """What the writer keeps on an open shard: its open Transaction and Batch, and whether
    a failed commit left the durable state unknown. Declared here, set by vosfmt.txn and
    vosfmt.batch, so the shard can honour it (close aborts a batch, a batch's blob is
    staged) without importing them."""
    __slots__ = ("tx", "batch", "in_doubt")

    def __init__(self):
        self.tx = None
        self.batch = None
        self.in_doubt = False       # a commit failed after issuing its superblock


class Shard(ValueReads):
    """An open pool shard file (read-only unless opened with ``write=True``)."""

    def __init__(self, path: str, *, write: bool = False, db_root: str | None = None,
                 hooks=None, truncated_ok: bool = False):
        """``truncated_ok``: open a shard file shorter than its superblock describes (the
        checker, which reports it and reads the missing pages as unreadable); ``truncated``
        then holds (file size, described size). Every other user gets the error."""
        self.path = path
        self.hooks = hooks
        self.df = DataFile(path, writable=write, hooks=hooks)
        self._locked = False
        try:
            self.sb = self._open_superblock()
            self._check_features(write)
            if write:
                from .lock import acquire
                acquire(self.df.fd, path)
                self._locked = True
                self.sb = self._open_superblock()     # what the previous writer left
            self.truncated = self._check_size(truncated_ok)
        except Exception:
            self.df.close()
            raise
        self.writable = write
        self.db_root = db_root if db_root is not None else db_root_of(path)
        self.reader = TreeReader(self.df, self.sb.page_size, self.sb.generation,
                                 self.sb.total_pages, is_stale=self.is_stale)
        self._blob: DataFile | None = None
        self.writer = WriterState()

    # --- opening --------------------------------------------------------------
    def _open_superblock(self) -> Superblock:
        """The newest sound superblock copy (see vosfmt.superblock); ``superblock_problems``
        names what was wrong with each copy not used."""
        reports = judge_slots(self.df, self.path)
        sb = choose_superblock(reports, self.path)
        self.superblock_problems = [r.problem for r in reports if r.fault is not None]
        return sb

    def superblock_slots(self) -> list[SlotReport]:
        """Both superblock copies as they are on disk now, each judged sound or not and why."""
        return judge_slots(self.df, self.path)

    def _check_size(self, truncated_ok: bool) -> tuple[int, int] | None:
        """(file size, described size) of a file shorter than its superblock says, else None;
        raises unless ``truncated_ok`` (reading past the end would look like damaged pages)."""
        size, want = self.df.size(), self.sb.total_pages * self.sb.page_size
        if size >= want:
            return None
        if not truncated_ok:
            raise CorruptionError(f"shard file is truncated: {size} bytes, the superblock "
                                  f"describes {self.sb.total_pages} pages", offset=size,
                                  structure="superblock", file=self.path)
        return size, want

    def extend_to_superblock(self) -> None:
        """Give a truncated shard file back the size its superblock describes, the missing
        pages zero (the checker's repair). Crash-safe: no byte in use changes, only pages
        past the end appear; what they held stays lost and reads as damaged pages."""
        if not self.writable:
            raise ReadOnlyError(f"{self.path} is opened read-only")
        if self.truncated is None:
            return
        self.df.truncate(self.truncated[1])
        self.df.sync()
        self.truncated = None

    def _check_features(self, write: bool) -> None:
        sb = self.sb
        unknown = sb.incompat & ~KNOWN_INCOMPAT
        if unknown:
            raise FormatError(f"{self.path}: unsupported incompatible features {unknown:#x}; "
                              "refusing to open")
        ro = sb.ro_compat & ~KNOWN_RO_COMPAT
        if ro and write:
            raise ReadOnlyError(f"{self.path}: unknown read-only-compatible features {ro:#x}; "
                                "the shard can only be opened read-only")

    def close(self) -> None:
        if self.writer.batch is not None:
            self.writer.batch.abort()
        if self._locked:
            from .lock import release
            release(self.df.fd, self.path)
            self._locked = False
        self.df.close()
        if self._blob is not None:
            self._blob.close()
            self._blob = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def pool_uuid(self) -> str:
        return uuid_str(self.sb.pool_uuid)

    @property
    def generation(self) -> int:
        return self.sb.generation

    def is_stale(self) -> bool:
        """Has another process committed a newer generation since we opened?"""
        if self.writable or self.writer.batch is not None:
            return False          # we hold the writer lock: nobody else commits
        try:
            return choose_superblock(judge_slots(self.df, self.path),
                                     self.path).generation > self.sb.generation
        except VosError:
            return False

    # --- what the writer changes -------------------------------------------------
    def rewrite_superblock_copy(self) -> None:
        """Write the superblock in use into the other slot too (repairs a damaged copy)."""
        if not self.writable:
            raise ReadOnlyError(f"{self.path} is opened read-only")
        other = 1 - self.sb.slot
        raw = encode_superblock(self.sb)
        self.df.write(other * PAGE_SIZE, raw + bytes(PAGE_SIZE - len(raw)))
        self.df.sync()

    def adopt_superblock(self, sb: Superblock) -> None:
        """Read the state ``sb`` describes from now on (a commit made it current, or a
        batch's abort went back to it)."""
        self.sb = sb
        self.reader.follow(sb.generation, sb.total_pages)

    @property
    def opened_blob(self) -> DataFile | None:
        """The NVMe blob's file if ``blob_file`` opened it already, else None."""
        return self._blob

    def use_files(self, df, blob) -> None:
        """Read and write through other file objects: a batch's overlays, then the real
        files again (``blob`` None: the blob is not open)."""
        self.df = df
        self.reader.use_file(df)
        self._blob = blob

    # --- containers -------------------------------------------------------------
    def containers(self):
        for k, v in self.reader.items(self.sb.cont_root, path="/"):
            yield Container(self, guarded(dec_container, v, tclass=TreeClass.CONT_TABLE,
                                          path="/" + uuid_str(k)))

    def container(self, cuuid) -> Container:
        key = uuid_bytes(cuuid)
        v = self.reader.get(self.sb.cont_root, key, path="/")
        if v is None:
            raise NotFoundError(f"no container {uuid_str(key)}")
        return Container(self, guarded(dec_container, v, tclass=TreeClass.CONT_TABLE,
                                       path="/" + uuid_str(key)))

    def container_at(self, index: int) -> Container:
        kv = self.reader.nth(self.sb.cont_root, index, path="/")
        if kv is None:
            raise NotFoundError(f"no container at index {index}")
        return Container(self, guarded(dec_container, kv[1], tclass=TreeClass.CONT_TABLE,
                                       path="/" + uuid_str(kv[0])))

    def container_count(self) -> int:
        return self.sb.cont_root.count

    def container_index(self, cuuid) -> int | None:
        return self.reader.index_of(self.sb.cont_root, uuid_bytes(cuuid), path="/")

    # --- space -------------------------------------------------------------------
    def vea_free_extents(self) -> list[FreeExtent]:
        out = []
        for k, v in self.reader.items(self.sb.vea_root, path="vea"):
            cnt, age = guarded(dec_vea, v, tclass=TreeClass.VEA, path="vea")
            out.append(FreeExtent(blk_from_key(k), cnt, age))
        return out

    def freelist_pages(self):
        """Yield (page, [(start, count)...]) along the free-page chain."""
        page, seen = self.sb.freelist_head, set()
        while page:
            if page in seen:
                raise CorruptionError("free-page list loops", offset=page * PAGE_SIZE,
                                      structure="freelist_page", file=self.path)
            seen.add(page)
            nxt, extents = read_freelist_page(self, page)
            yield page, extents
            page = nxt


def open_shard(path: str, *, write: bool = False, db_root: str | None = None,
               hooks=None, truncated_ok: bool = False) -> Shard:
    return Shard(path, write=write, db_root=db_root, hooks=hooks, truncated_ok=truncated_ok)
