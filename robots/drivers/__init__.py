"""Robot drivers: each turns orchestrator commands into one robot model's protocol (``sim`` is the simulated robot)."""
