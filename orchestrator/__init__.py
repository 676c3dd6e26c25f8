"""The orchestrator core (events in, commands out; no I/O, no wall clock), its allocation, schedules, journal and SQLite store."""
