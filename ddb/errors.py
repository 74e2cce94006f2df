"""The one error path of ddb: DdbError carries the line a user sees.

DAOS ddb prints some errors as a C-layer line (stdout or stderr) followed by
the front end's ``ERROR: ddb: <DER text>``; ``DdbError`` keeps both parts so
the runners print them in that order, and scripts grepping either still work.
"""
from __future__ import annotations

DER = {
    "DER_NO_PERM": (-1001, "Operation not permitted"),
    "DER_NO_HDL": (-1002, "Invalid handle"),
    "DER_INVAL": (-1003, "Invalid parameters"),
    "DER_EXIST": (-1004, "Entity already exists"),
    "DER_NONEXIST": (-1005, "The specified entity does not exist"),
    "DER_BUSY": (-1012, "Device or resource busy"),
    "DER_DF_INVAL": (-2022, "Unsupported durable format"),
}


def der(name: str) -> str:
    code, text = DER[name]
    return f"{name}({code}): {text}"


class DdbError(Exception):
    """A command failed. ``stdout``/``stderr`` lines are printed before the error line."""

    def __init__(self, message: str, *, stdout=(), stderr=()):
        super().__init__(message)
        self.message = message
        self.stdout = list(stdout)
        self.stderr = list(stderr)


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
