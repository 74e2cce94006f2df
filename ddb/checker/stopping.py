"""Stopping a check: a request file that the leader and its scan workers look for.

``check stop`` writes ``daos_sys/check.stop`` and waits for the running
check to let go of the image; the check ends within STOP_POLL seconds,
leaving STOPPED (the next start resumes it). A request older than the run
is ignored: it is the stamp (inode, mtime) the run began with.
"""
from __future__ import annotations

import json
import os
import time

from vosfmt import lock, safefs
from vosfmt.smd import SYS_DIR

from .image import require_image
from .imagelock import image_in_use
from .querying import query
from .store import ReportStore, writing

STOP_FILE = os.path.join(SYS_DIR, "check.stop")
STOP_WAIT = 10.0        # seconds `check stop` waits for the leader to end
STOP_POLL = 0.1         # seconds between a leader's looks for a stop request


class CheckStopped(Exception):
    """`check stop` asked the running check to end (it leaves a resumable state)."""


class StopWatch:
    """Sees a stop request made after the run began (an older, stale one is ignored)."""

    def __init__(self, db_root: str, base=False):
        self.path = os.path.join(db_root, STOP_FILE)
        self.base = self._stamp() if base is False else base

    def _stamp(self):
        try:
            st = os.lstat(self.path)
            return (st.st_ino, st.st_mtime_ns)
        except OSError:
            return None

    def requested(self) -> bool:
        stamp = self._stamp()
        return stamp is not None and stamp != self.base

    def check(self) -> None:
        if self.requested():
            raise CheckStopped()

    def ticker(self):
        """A cheap callable for the scan's inner loop: looks for a request every STOP_POLL s."""
        due = [time.monotonic() + STOP_POLL]

        def tick():
            now = time.monotonic()
            if now >= due[0]:
                due[0] = now + STOP_POLL
                self.check()
        return tick


def request_stop(db_root: str, wait: float = STOP_WAIT) -> bool:
    """Ask the running check to stop and wait for it to let go of the image; True if it did."""
    stop_path = os.path.join(db_root, STOP_FILE)
    safefs.write_file(db_root, stop_path, json.dumps(lock.holder_details()).encode())
    deadline = time.monotonic() + wait
    try:
        while image_in_use(db_root):
            if time.monotonic() >= deadline:
                return False
            time.sleep(lock.POLL)
        return True
    finally:
        safefs.unlink_file(db_root, stop_path)


def stop(db_root: str, wait: float = STOP_WAIT) -> str:
    """``check stop``: a running check (dry runs too) ends within STOP_POLL seconds of the
    request, leaving STOPPED (resumable); a RUNNING record whose leader is gone is marked so."""
    require_image(db_root)
    if image_in_use(db_root):
        if not request_stop(db_root, wait):
            return "STOPPING"
        return query(db_root)["status"]
    if not ReportStore.exists(db_root):
        return "INIT"
    with writing(db_root) as store:
        inst = store.instance()
        if inst.get("status") != "RUNNING":
            return inst.get("status", "INIT")
        inst.update(status="STOPPED", stop_time=time.time())
        store.put(instance=inst)
        return "STOPPED"
