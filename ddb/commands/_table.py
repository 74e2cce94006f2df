"""The dict every command module registers into (kept apart to avoid import cycles)."""
ALL: dict = {}
