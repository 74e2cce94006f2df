"""Crash simulation for vosfmt commits.

``FaultInjector`` is passed as ``hooks`` to ``open_shard``; it counts every
write and fsync, and at event number ``crash_at`` stops the process's I/O by
raising ``SimulatedCrash``. Before raising it decides what a power failure
would have left of the writes not yet fsync'ed on each file:

  keep  - all of them reached the disk
  drop  - none of them did
  tear  - each independently kept, lost, or cut in half (seeded)
"""
from __future__ import annotations

import os
import random


class SimulatedCrash(BaseException):
    """A power cut: like SIGKILL, nothing in the product may catch it (hence BaseException)."""


class FaultInjector:
    def __init__(self, crash_at: int | None = None, mode: str = "keep", seed: int = 0):
        self.crash_at = crash_at
        self.mode = mode
        self.rng = random.Random(seed)
        self.events = 0
        self.unsynced: dict[str, list[tuple[int, bytes, int]]] = {}
        self.crashed = False

    def _tick(self) -> None:
        if self.crashed:
            raise SimulatedCrash("I/O after the crash")
        self.events += 1
        if self.crash_at is not None and self.events >= self.crash_at:
            self._apply_crash()
            raise SimulatedCrash(f"crash at event {self.events}")

    def on_write(self, f, off: int, data) -> None:
        self._tick()
        old = os.pread(f.fd, len(data), off)
        self.unsynced.setdefault(f.path, []).append((off, old, len(data)))

    def on_sync(self, f) -> None:
        self._tick()
        self.unsynced.pop(f.path, None)

    def _apply_crash(self) -> None:
        self.crashed = True
        for path, writes in self.unsynced.items():
            fd = os.open(path, os.O_RDWR)
            try:
                for off, old, n in reversed(writes):
                    old = old + bytes(n - len(old))
                    if self.mode == "keep":
                        continue
                    if self.mode == "drop":
                        os.pwrite(fd, old, off)
                        continue
                    choice = self.rng.randrange(3)
                    if choice == 1:
                        os.pwrite(fd, old, off)
                    elif choice == 2:
                        half = (n // 2) // 512 * 512 or n // 2
                        os.pwrite(fd, old[half:], off + half)
            finally:
                os.close(fd)
