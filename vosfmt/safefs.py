"""Files ddb creates, truncates or deletes: regular files inside the image, never through a link.

People run ddb as root on a damaged system. A symbolic link planted where
ddb writes (a lock file, the report store, a dump destination, a blob to
delete) must never redirect the write: every path below the image root is
walked one component at a time with ``O_NOFOLLOW`` directory descriptors,
and the final name is opened, replaced or removed relative to its parent's
descriptor, so nothing is followed even if the tree changes under us. The
root itself is the user's choice and may be a link.

New files are always created under a fresh name (``O_CREAT | O_EXCL |
O_NOFOLLOW``) and renamed into place, so a crash or a failure never leaves a
half-written file where a good one was, and nothing pre-existing is ever
opened for writing by name. ``OutputFile`` applies the same rules to a dump
destination the user names (``value_dump``, ``csum_dump``), which lies
outside any image: see its docstring. ``move_into_place`` and ``remove_dir``
are the same rules for a replica built under a temporary name (an rdb-pool, an
MS replica's LMDB file) and for a directory emptied of known files.

Everything raises :class:`UnsafePathError` (a ``VosError``) with one line
saying which path was refused and why.
"""
from __future__ import annotations

import errno
import os
import secrets
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


def _tmp_name(name: str) -> str:
    """A fresh, unguessable name beside ``name`` for a file that is renamed over it later."""
    return f".{name}.{secrets.token_hex(6)}.tmp"


def _create_tmp(dfd: int, name: str, mode: int) -> tuple[int, str]:
    """Create a new empty file beside ``name`` in directory ``dfd``: (fd, its name)."""
    for _ in range(16):
        tmp = _tmp_name(name)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                           mode, dir_fd=dfd), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "cannot find a free temporary name", name)


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
    tmp = None
    try:
        fd, tmp = _create_tmp(dfd, name, mode)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except OSError as e:
        if tmp is not None:
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


def check_tree(root: str, path: str, files=(), *, create: bool = False) -> None:
    """Refuse ``path`` (a directory below ``root``) if it or a component is a link, or if
    one of ``files`` inside it exists and is not a regular file.

    For libraries that take a path (LMDB): checked just before the open.
    With ``create``, missing directories down to ``path`` are made here,
    without following links (a library's own ``makedirs`` would follow them).
    """
    dfd, name = open_parent(root, os.path.join(path, "x"), create=create)
    try:
        for f in files:
            try:
                _regular(os.stat(f, dir_fd=dfd, follow_symlinks=False), os.path.join(path, f))
            except FileNotFoundError:
                pass
    finally:
        os.close(dfd)


class OutputFile:
    """A destination the user names for a dump, written without following a link or
    removing anything that was not ours.

    - missing or a regular file: the bytes go to a fresh file beside it
      (``O_CREAT | O_EXCL | O_NOFOLLOW``, the old file's permission bits),
      renamed over it by ``commit``. A failed dump removes only that
      temporary file: an existing destination is left as it was.
    - a FIFO or character device (a pipe, ``/dev/null``, a terminal): written
      in place, never created, truncated or removed.
    - a symbolic link: refused. A link in a shared directory is how a dump
      run as root is redirected over a system file; the user can name the
      link's target instead.
    - anything else (directory, block device, socket): refused.

    The directory holding the destination is the user's choice and may be
    reached through links. Use as a context manager: ``commit`` on success,
    ``discard`` on an exception. ``OSError`` from opening (no such directory,
    permission denied) is passed on for the caller's own message.
    """

    def __init__(self, path: str):
        self.path = path
        self.tmp: str | None = None
        name = os.path.basename(path)
        if name in ("", ".", ".."):
            raise UnsafePathError(f"refusing to write {path}: it names a directory")
        self._name = name
        self._dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self.file = os.fdopen(self._open(), "wb")
        except BaseException:
            self._close_dir()
            raise

    def _open(self) -> int:
        dfd, name, path = self._dfd, self._name, self.path
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is None or stat.S_ISREG(st.st_mode):
            fd, self.tmp = _create_tmp(dfd, name, 0o666 if st is None else 0o600)
            if st is not None:
                os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o777)
            return fd
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePathError(f"refusing to write {path}: it is a symbolic link "
                                  "(name the file it points to instead)")
        if not (stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode)
                    else "not a regular file, FIFO or character device")
            raise UnsafePathError(f"refusing to write {path}: it is {kind}")
        try:
            fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise _why(path, e) from None
            raise
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            os.close(fd)
            raise UnsafePathError(f"refusing to write {path}: it was replaced while being opened")
        return fd

    def write(self, data) -> None:
        self.file.write(data)

    def commit(self) -> None:
        """Finish: the temporary file is synced and renamed over the destination."""
        try:
            self.file.flush()
            if self.tmp is not None:
                os.fsync(self.file.fileno())
            self.file.close()
            if self.tmp is not None:
                os.rename(self.tmp, self._name, src_dir_fd=self._dfd, dst_dir_fd=self._dfd)
                self.tmp = None
        except BaseException:
            self.discard()
            raise
        finally:
            self._close_dir()

    def discard(self) -> None:
        """Give up: our temporary file (never the destination) is removed."""
        try:
            self.file.close()
        except OSError:
            pass
        if self.tmp is not None and self._dfd >= 0:
            try:
                os.unlink(self.tmp, dir_fd=self._dfd)
            except OSError:
                pass
            self.tmp = None
        self._close_dir()

    def _close_dir(self) -> None:
        if self._dfd >= 0:
            os.close(self._dfd)
            self._dfd = -1

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def move_into_place(root: str, src: str, dst: str) -> None:
    """Rename file ``src`` over ``dst`` (both below ``root``, no link followed on the way; a
    link at ``dst`` is replaced, never followed) and make the rename durable."""
    sfd, sname = open_parent(root, src)
    try:
        dfd, dname = open_parent(root, dst, create=True)
        try:
            os.rename(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)
            os.fsync(dfd)
        except OSError as e:
            raise UnsafePathError(f"cannot move {src} to {dst}: {e.strerror}") from None
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def remove_dir(root: str, path: str, files=()) -> None:
    """Remove directory ``path`` below ``root`` after the regular ``files`` in it (whatever
    of them exists); a directory that is missing is fine, one holding more is kept."""
    for f in files:
        unlink_file(root, os.path.join(path, f))
    try:
        dfd, name = open_parent(root, path)
    except UnsafePathError:
        return
    try:
        os.rmdir(name, dir_fd=dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
