"""The checker's operational error: what stops a check (exit 8), in one line for the user."""


class CheckError(Exception):
    """An operational error of the checker (exit 8), with a one-line message."""
