"""e2fsck's exit status bits, shared by the engine and ``ddb check`` (no imports: cheap at start-up)."""

EXIT_CLEAN, EXIT_FIXED, EXIT_LEFT, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 4, 8, 16, 32

#: what each status says, in the order help texts list them
MEANINGS = ((EXIT_CLEAN, "clean"), (EXIT_FIXED, "fixed"), (EXIT_LEFT, "left uncorrected"),
            (EXIT_ERROR, "operational error"), (EXIT_USAGE, "usage error"),
            (EXIT_INTERRUPTED, "interrupted"))
