"""The checker library: passes over shards and SMD, a problem table, repairs, a report store.

It imports vosfmt only (never click, prompt_toolkit or tabulate), returns
findings, and never prints: ``ddb check`` is its user interface.
"""
from .engine import (EXIT_CLEAN, EXIT_ERROR, EXIT_FIXED, EXIT_INTERRUPTED, EXIT_LEFT, EXIT_USAGE,
                     CheckError, Checker, Options, query, repair_finding, resolution, stop)
from .problems import PROBLEMS, Action, Cls, problem
from .scan import Finding, ShardScan

__all__ = ["Action", "CheckError", "Checker", "Cls", "EXIT_CLEAN", "EXIT_ERROR", "EXIT_FIXED",
           "EXIT_INTERRUPTED", "EXIT_LEFT", "EXIT_USAGE", "Finding", "Options", "PROBLEMS",
           "ShardScan", "problem", "query", "repair_finding", "resolution", "stop"]
