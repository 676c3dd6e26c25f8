"""A real ``carefleet serve`` with the device routes, for the device tests.

    python -m tests.devices.serve_devices --devices DEVICES.yaml --store FILE --port N

It is ``carefleet serve --demo`` (the same ``WardService``, ``create_app`` and uvicorn)
plus ``devices_router`` with the given ``devices:`` section, for as long as the site
file and ``create_app`` do not carry them themselves (then it adds nothing twice).
Prints the same "CareFleet: ... http://" line the service fixture waits for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from carefleet.devices.config import load_device_config
from carefleet.service.api import create_app
from carefleet.service.cli import _bind
from carefleet.service.devices_api import devices_router
from carefleet.service.site import DEMO_SITE, load_site
from carefleet.service.ward import WardService


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--speed", type=float, default=1.0)
    args = parser.parse_args(argv)
    site = load_site(DEMO_SITE)
    config = load_device_config(args.devices, site.ward)
    listener = _bind("127.0.0.1", args.port)
    service = WardService(site, store=Path(args.store), speed=args.speed)
    try:
        app = create_app(service)
        has_devices = "/api/devices/events" in app.openapi()["paths"]
        app.openapi_schema = None                 # built again, with what is added below
        if not has_devices:
            router = devices_router(service, config)
            app.include_router(router)
            # the dashboard's static mount is the catch-all: keep it last
            mounts = [r for r in app.router.routes if getattr(r, "name", "") == "dashboard"]
            for mount in mounts:
                app.router.routes.remove(mount)
                app.router.routes.append(mount)
        service.start()
        print(f"CareFleet: {site.ward.name} on http://127.0.0.1:{args.port}/ (devices)",
              flush=True)
        uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off")).run(
            sockets=[listener])
    finally:
        manager = getattr(service, "devices", None)
        if manager is not None:
            manager.stop()
        service.stop()
        listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
