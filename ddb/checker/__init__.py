"""The checker library: passes over shards and SMD, a problem table, repairs, a report store.

It imports vosfmt only (never click, prompt_toolkit or tabulate, nor ddb's
commands, command line or shell), returns findings, and never prints:
``ddb check`` is its user interface. Names are loaded on first use, so
``ddb`` can read the exit codes without loading the engine.

Where things live: ``problems`` (the table), ``scan`` and ``scan_*`` (the
passes, one module each), ``finding`` (what they return), ``fields``
(FIELD_DISAGREES, both sides), ``registry`` and ``repairs_*`` (one repair
per problem), ``repair`` (applying them), ``engine`` (a run), ``policies``
(decisions), ``report`` and ``store`` (what is kept), ``dryrun``,
``imagelock``, ``stopping``, ``querying``, ``answer`` (``check repair``).
"""
from .exits import EXIT_CLEAN, EXIT_ERROR, EXIT_FIXED, EXIT_INTERRUPTED, EXIT_LEFT, EXIT_USAGE

_WHERE = {
    "Checker": "engine", "Options": "engine",
    "CheckError": "errors",
    "PROBLEMS": "problems", "Action": "problems", "Cls": "problems", "Code": "problems",
    "problem": "problems", "parse_action": "problems", "parse_class": "problems",
    "Finding": "finding", "ShardScan": "scan",
    "Result": "report", "is_pending": "report", "resolution": "report", "tally": "report",
    "query": "querying", "stop": "stopping", "repair_finding": "answer",
    "reading": "store", "dry_run_path": "dryrun",
    "stored_policies": "policies", "update_policies": "policies",
}

__all__ = ["EXIT_CLEAN", "EXIT_ERROR", "EXIT_FIXED", "EXIT_INTERRUPTED", "EXIT_LEFT", "EXIT_USAGE",
           *_WHERE]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
