"""Files ddb creates, truncates or deletes: regular files inside the image, never through a link.

People run ddb as root on a damaged system. A symbolic link planted where
ddb writes (a lock file, the report store, a dump destination, a blob to
delete) must never redirect the write: every path below the image root is
walked one component at a time with ``O_NOFOLLOW`` directory descriptors,
and the final name is opened, replaced or removed relative to its parent's
descriptor, so nothing is followed even if the tree changes under us. The
root itself is the user's choice and may be a link.

Everything raises :class:`UnsafePathError` (a ``VosError``) with one line
saying which path was refused and why.
"""
from __future__ import annotations

import errno
import os
import stat

from .errors import VosError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePathError(VosError):
    """A path ddb would write through is a link, not a regular file, or outside the image."""


def _parts(root: str, path: str) -> list[str]:
    """The components of ``path`` below ``root``; refuses a path that leaves it."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if rel == "." or rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        raise UnsafePathError(f"refusing to write {path}: it is not inside the image {root}")
    return rel.split(os.sep)


def _why(path: str, e: OSError) -> UnsafePathError:
    if e.errno in (errno.ELOOP, errno.ENOTDIR):
        return UnsafePathError(f"refusing to use {path}: a component is a symbolic link or not a directory")
    return UnsafePathError(f"cannot use {path}: {e.strerror}")


def open_parent(root: str, path: str, *, create: bool = False) -> tuple[int, str]:
    """(directory fd, final name) for ``path`` below ``root``, no link followed on the way.

    With ``create``, missing directories are made (mode 0755). The caller closes the fd.
    """
    parts = _parts(root, path)
    try:
        fd = os.open(os.path.abspath(root), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise _why(root, e) from None
    here = root
    try:
        for name in parts[:-1]:
            here = os.path.join(here, name)
            try:
                nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except OSError as e:
        os.close(fd)
        raise _why(here, e) from None
    return fd, parts[-1]


def _regular(st: os.stat_result, path: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePathError(f"refusing to use {path}: it is not a regular file")


def open_file(root: str, path: str, flags: int, mode: int = 0o644) -> int:
    """``os.open`` of a regular file below ``root`` with ``O_NOFOLLOW``; returns the fd.

    ``O_CREAT`` creates it (and missing parent directories); an existing
    link, FIFO, device or directory at ``path`` is refused before any byte
    is written (``O_TRUNC`` is applied only after the type check).
    """
    dfd, name = open_parent(root, path, create=bool(flags & os.O_CREAT))
    trunc = flags & os.O_TRUNC
    try:
        fd = os.open(name, (flags & ~os.O_TRUNC) | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     mode, dir_fd=dfd)
    except OSError as e:
        raise _why(path, e) from None
    finally:
        os.close(dfd)
    try:
        _regular(os.fstat(fd), path)
        if trunc:
            os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_file(root: str, path: str, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` by a file holding ``data``: written beside it under a fresh name, then renamed.

    A link at ``path`` is replaced (the rename never follows it); its target is untouched.
    """
    dfd, name = open_parent(root, path, create=True)
    tmp = f".{name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                     dir_fd=dfd)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except OSError as e:
        try:
            os.unlink(tmp, dir_fd=dfd)
        except OSError:
            pass
        raise _why(path, e) from None
    finally:
        os.close(dfd)


def unlink_file(root: str, path: str, *, missing_ok: bool = True) -> bool:
    """Remove ``path`` if it is a regular file below ``root`` (never a link's target). True if removed."""
    try:
        dfd, name = open_parent(root, path)
    except UnsafePathError:
        if missing_ok and not os.path.lexists(path):
            return False
        raise
    try:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            if missing_ok:
                return False
            raise UnsafePathError(f"cannot remove {path}: it does not exist") from None
        _regular(st, path)
        os.unlink(name, dir_fd=dfd)
        return True
    except OSError as e:
        raise _why(path, e) from None
    finally:
        os.close(dfd)


def check_tree(root: str, path: str, files=()) -> None:
    """Refuse ``path`` (a directory below ``root``) if it or a component is a link, or if
    one of ``files`` inside it exists and is not a regular file.

    For libraries that take a path (LMDB): checked just before the open.
    """
    dfd, name = open_parent(root, os.path.join(path, "x"))
    try:
        for f in files:
            try:
                _regular(os.stat(f, dir_fd=dfd, follow_symlinks=False), os.path.join(path, f))
            except FileNotFoundError:
                pass
    finally:
        os.close(dfd)
