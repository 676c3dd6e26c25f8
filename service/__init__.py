"""``carefleet serve``: the live ward service on the host, with its HTTP/WebSocket API,
staff accounts, the site file and the camera bridge (see README, "The ward service")."""
