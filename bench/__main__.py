"""``python -m bench``: run every benchmark (each prints its own ratios)."""
from . import build_walk, ddb_cmds, write

rc = build_walk.main([])
rc |= ddb_cmds.main([])
rc |= write.main([])
raise SystemExit(rc)
