"""Robots as the orchestrator sees them: profile, lifecycle state machine, and the driver interface vendors implement."""
