"""The active run: buffered logging, the journal, timed commits, child processes and crash recovery."""
