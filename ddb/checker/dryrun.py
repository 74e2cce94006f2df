"""Where a dry run keeps its report: outside the image, which it never writes.

One report store per image under the user's state directory
(``$DDB_STATE_DIR``, else ``$XDG_STATE_HOME/ddb``, else
``~/.local/state/ddb``), in ``check/<hash of the image's real path>``,
locked with an flock on its directory while a dry run writes it. Its
sequence numbers continue the image store's and the other way round
(``ReportStore.seq_floor``), so a number is never shown twice for one image.
"""
from __future__ import annotations

import hashlib
import os
import stat
from contextlib import contextmanager

from vosfmt import VosError, lock

from .errors import CheckError
from .store import SEQ_BASE, ReportStore

STATE_ENV = "DDB_STATE_DIR"


def state_dir() -> str:
    """Where ddb keeps what must not go into an image (the reports of dry runs)."""
    if os.environ.get(STATE_ENV):
        return os.environ[STATE_ENV]
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "ddb")


def dry_run_path(db_root: str) -> str:
    """The dry-run store of the image at ``db_root`` (one per image, by its real path)."""
    key = hashlib.sha256(os.path.realpath(db_root).encode()).hexdigest()[:16]
    return os.path.join(state_dir(), "check", key)


def image_id(db_root: str) -> list:
    """(device, inode) of the image root: a dry-run store of a removed, recreated image is not its."""
    st = os.stat(db_root)
    return [st.st_dev, st.st_ino]


def private_dir(path: str) -> None:
    """Make ``path`` (mode 0700) and refuse it unless it is our own directory, not a link."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise OSError(f"{path} is not a directory of this user")


@contextmanager
def dry_run_store(db_root: str):
    """The dry-run store of ``db_root`` for writing, locked against another dry run of it."""
    path = dry_run_path(db_root)
    try:
        private_dir(path)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise CheckError(f"cannot keep the dry-run report in {path}: {e.strerror or e} "
                         "(set DDB_STATE_DIR to a writable directory)") from None
    try:
        if not lock.take(fd, exclusive=True):
            raise CheckError(f"a dry run of {db_root} is already running")
        with ReportStore(db_root, write=True, path=path) as store:
            yield store
    finally:
        os.close(fd)


def dry_run_reader(db_root: str):
    """The dry-run store of this image for reading, or None (absent, busy or another image's)."""
    path = dry_run_path(db_root)
    if not ReportStore.exists(db_root, path):
        return None
    try:
        store = ReportStore(db_root, path=path)
    except VosError:
        return None
    if store.instance().get("image") != image_id(db_root):
        store.close()
        return None
    return store


def dry_run_busy(db_root: str) -> bool:
    """Is a dry run of this image writing its report now?"""
    try:
        return lock.held_by_another(dry_run_path(db_root), exclusive=False)
    except OSError:
        return False


def dry_run_next_seq(db_root: str) -> int:
    store = dry_run_reader(db_root)
    if store is None:
        return SEQ_BASE
    with store:
        return store.next_seq()
