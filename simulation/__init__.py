"""The simulated ward: scenarios, the virtual-clock simulator, KPIs and reports."""
