"""Ward devices: bed-exit sensors, call buttons, wearables, door contacts, cameras.

- ``model``: what a device is and how healthy its heartbeats say it is;
- ``pairing``: discovered -> pending -> paired (allow-list or pairing code), sans-I/O;
- ``protocol``: the signed, versioned device event format and its verifier;
- ``rules``: device events -> tasks and alerts (YAML, with cooldown and de-duplication);
- ``discovery``: python-zeroconf browsing (it only proposes); ``simulators``: fake devices;
- ``store``: paired devices and their keys (encrypted) in the task store's file;
- ``manager``: the runtime that ties them to a live ward (``carefleet serve``).
"""
