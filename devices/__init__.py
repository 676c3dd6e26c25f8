"""Ward devices (bed-exit sensors, call buttons, wearables, cameras): discovery and pairing arrive in a later issue."""
