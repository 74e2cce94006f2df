"""``python -m bench``: run every benchmark (each prints its own ratios)."""
from . import build_walk, check, ddb_cmds, write

rc = build_walk.main([])
rc |= ddb_cmds.main([])
rc |= write.main([])
rc |= check.main([])
raise SystemExit(rc)
