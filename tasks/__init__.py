"""Task types (meal delivery, patrol, fall response, go to, charge), their lifecycle and step state machines, and request parsing."""
