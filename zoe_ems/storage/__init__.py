"""Storage: one SQLite database (WAL) for history, outbox, replay cache and response logs."""
