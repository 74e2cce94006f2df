"""e2fsck's exit status bits, shared by the engine and ``ddb check`` (no imports: cheap at start-up)."""

EXIT_CLEAN, EXIT_FIXED, EXIT_LEFT, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 4, 8, 16, 32
