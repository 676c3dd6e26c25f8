"""robots/drivers."""
