"""``python -m bench``: every benchmark in one table (see bench/report.py)."""
from .report import main

raise SystemExit(main())
