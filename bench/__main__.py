"""``python -m bench``: run every benchmark (each prints its own ratios)."""
from . import build_walk

raise SystemExit(build_walk.main())
