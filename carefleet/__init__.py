"""CareFleet: orchestrate service robots and smart ward devices in elderly-care homes."""

__version__ = "0.1.0"
