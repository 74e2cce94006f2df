"""The checker library: passes over shards and SMD, a problem table, repairs, a report store.

It imports vosfmt only (never click, prompt_toolkit or tabulate), returns
findings, and never prints: ``ddb check`` is its user interface. Names are
loaded on first use, so ``ddb`` can read the exit codes without loading the
engine.
"""
from .exits import EXIT_CLEAN, EXIT_ERROR, EXIT_FIXED, EXIT_INTERRUPTED, EXIT_LEFT, EXIT_USAGE

_WHERE = {
    **{n: "engine" for n in ("CheckError", "Checker", "Options", "query", "repair_finding",
                             "resolution", "stop")},
    **{n: "problems" for n in ("PROBLEMS", "Action", "Cls", "problem")},
    **{n: "scan" for n in ("Finding", "ShardScan")},
}

__all__ = ["Action", "CheckError", "Checker", "Cls", "EXIT_CLEAN", "EXIT_ERROR", "EXIT_FIXED",
           "EXIT_INTERRUPTED", "EXIT_LEFT", "EXIT_USAGE", "Finding", "Options", "PROBLEMS",
           "ShardScan", "problem", "query", "repair_finding", "resolution", "stop"]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
