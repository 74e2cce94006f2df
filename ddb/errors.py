"""The one error path of ddb: DdbError carries the line a user sees.

DAOS ddb prints some errors as a C-layer line (stdout or stderr) followed by
the front end's ``ERROR: ddb: <DER text>``; ``DdbError`` keeps both parts so
the runners print them in that order, and scripts grepping either still work.

A vosfmt failure (VosError) becomes the user's error in one place,
``user_error``: ``run_command`` calls it for whatever a command lets
through, and a command that wants to say what it was doing wraps the work
in ``failing_as(context)`` instead of catching and re-wording.
"""
from __future__ import annotations

import contextlib

DER = {
    "DER_NO_PERM": (-1001, "Operation not permitted"),
    "DER_NO_HDL": (-1002, "Invalid handle"),
    "DER_INVAL": (-1003, "Invalid parameters"),
    "DER_EXIST": (-1004, "Entity already exists"),
    "DER_NONEXIST": (-1005, "The specified entity does not exist"),
    "DER_BUSY": (-1012, "Device or resource busy"),
    "DER_OVERFLOW": (-1017, "Data too long for defined data type or buffer size"),
    "DER_EXCEEDS_PATH_LEN": (-1042, "Path name exceeds permitted length"),
    "DER_DF_INVAL": (-2022, "Unsupported durable format"),
}


def der(name: str) -> str:
    code, text = DER[name]
    return f"{name}({code}): {text}"


class DdbError(Exception):
    """A command failed. ``stdout``/``stderr`` lines are printed before the error line;
    ``status`` is the exit status of a run it ends (``check`` speaks e2fsck's bits)."""

    def __init__(self, message: str, *, stdout=(), stderr=(), status: int = 1):
        super().__init__(message)
        self.message = message
        self.stdout = list(stdout)
        self.stderr = list(stderr)
        self.status = status

    def prefixed(self, context: str) -> DdbError:
        """The same failure, its message preceded by what the caller was doing."""
        return DdbError(context + self.message, stdout=self.stdout, stderr=self.stderr,
                        status=self.status)


def user_error(e, context: str = "", *, status: int = 1) -> DdbError:
    """The user's error for a VosError ``e``, worded by its type: a path DAOS ddb would not
    open is its DER code with the reason on stderr (as DAOS's C layer logs it); something
    missing is DER_NONEXIST, a refused edit DER_INVAL; anything else is its own message
    (it already names the structure, offset and VOS path). ``context`` comes first;
    ``status`` is the exit status it gives a run (``check``: e2fsck's operational error)."""
    from vosfmt import NotFoundError, TransactionError
    from vosfmt.paths import ShardPathError, ShardPathTooLong, TargetOutOfRange
    for kind, name in ((ShardPathTooLong, "DER_EXCEEDS_PATH_LEN"), (TargetOutOfRange, "DER_OVERFLOW"),
                       (ShardPathError, "DER_INVAL")):
        if isinstance(e, kind):
            return DdbError(context + der(name), stderr=[str(e)], status=status)
    for kind, name in ((NotFoundError, "DER_NONEXIST"), (TransactionError, "DER_INVAL")):
        if isinstance(e, kind):
            return DdbError(f"{context}{der(name)}: {e}", status=status)
    return DdbError(f"{context}{e}", status=status)


@contextlib.contextmanager
def failing_as(context: str):
    """A VosError raised inside is the user's error, preceded by ``context`` (what the
    command was doing, e.g. ``"Unable to add new free region: "``)."""
    from vosfmt import VosError
    try:
        yield
    except VosError as e:
        raise user_error(e, context) from None


class QuitRequested(Exception):
    """``quit``/``q``: end the session normally."""


class ExitCode(Exception):
    """A command that finished with a meaningful status (``check``: e2fsck's bits)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def unreadable(path: str | None, e: Exception) -> DdbError:
    """The last line of defence against damaged input: an exception that no decoder
    turned into a CorruptionError, raised while a shard was being read, is still
    one line naming the shard (the traceback is --debug's), not an internal error."""
    kind = type(e).__qualname__
    if type(e).__module__ != "builtins":
        kind = f"{type(e).__module__}.{kind}"          # struct.error, not just 'error'
    return DdbError(f"cannot read '{path}' ({kind}: {e}); the shard may be damaged "
                    "(run with --debug for a traceback)")
