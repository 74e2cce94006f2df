"""Incarnation-log rules as pure functions over lists of IlogEntry.

These follow DAOS ``ilog_update`` / ``ilog_persist`` / ``ilog_abort``:
entries stay sorted by epoch with no duplicates, a create that follows a
committed create is not logged again, and two transactions may not log at
the same epoch.
"""
from __future__ import annotations

from .constants import DTX_LID_COMMITTED, ILOG_MAX
from .errors import TransactionError
from .records import IlogEntry


def ilog_update(entries: list[IlogEntry], epoch: int, minor: int, tx_id: int,
                punch: bool) -> list[IlogEntry] | None:
    """The log after recording a create or punch; None when nothing changes."""
    if epoch == 0:
        raise TransactionError("epoch 0 is not a valid epoch")
    minor = max(minor, 1)
    for i, e in enumerate(entries):
        if e.epoch == epoch:
            if e.tx_id != tx_id:
                raise TransactionError(f"another transaction already logged epoch {epoch}")
            merged = IlogEntry(e.epoch, e.tx_id,
                               max(e.punch_minor, minor) if punch else e.punch_minor,
                               e.update_minor if punch else max(e.update_minor, minor))
            if merged.punch_minor == merged.update_minor:
                raise TransactionError(f"punch and update at the same minor epoch {minor}")
            if merged == e:
                return None
            return entries[:i] + [merged] + entries[i + 1:]
    before = [e for e in entries if e.epoch < epoch]
    if not punch and before:
        prev = before[-1]
        if prev.tx_id == DTX_LID_COMMITTED and not prev.is_punch:
            return None
    new = IlogEntry(epoch, tx_id, minor if punch else 0, 0 if punch else minor)
    out = before + [new] + [e for e in entries if e.epoch > epoch]
    if len(out) > ILOG_MAX:
        raise TransactionError(f"incarnation log is full ({ILOG_MAX} entries)")
    return out


def ilog_persist(entries: list[IlogEntry]) -> list[IlogEntry]:
    """Every entry committed (DAOS ilog_persist on each entry)."""
    return [IlogEntry(e.epoch, DTX_LID_COMMITTED, e.punch_minor, e.update_minor) for e in entries]


def ilog_abort_lid(entries: list[IlogEntry], tx_id: int) -> list[IlogEntry]:
    """Entries of one transaction removed (DAOS ilog_abort)."""
    return [e for e in entries if e.tx_id != tx_id]


def ilog_commit_lid(entries: list[IlogEntry], tx_id: int) -> list[IlogEntry]:
    """Entries of one transaction marked committed."""
    return [IlogEntry(e.epoch, DTX_LID_COMMITTED, e.punch_minor, e.update_minor)
            if e.tx_id == tx_id else e for e in entries]
